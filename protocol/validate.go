package protocol

import "fmt"

// Validate methods of replies and announcements bound what a server can
// make a client allocate or process. Decode calls them.

// Validate checks the reply's bounds.
func (r *BlockHeaders) Validate() error { return checkMax(len(r.Headers), MaxHeaders, "headers") }

// Validate checks the reply's bounds.
func (r *BlockBodies) Validate() error { return checkMax(len(r.Bodies), MaxBodies, "bodies") }

// Validate checks the reply's bounds.
func (r *Receipts) Validate() error { return checkMax(len(r.Receipts), MaxReceipts, "receipt lists") }

// Validate checks the reply's bounds.
func (r *Proofs) Validate() error {
	if err := checkMax(len(r.Proofs), MaxProofs, "proofs"); err != nil {
		return err
	}
	total := 0
	for _, p := range r.Proofs {
		if err := checkMax(len(p.Storage), MaxSlotsPerProof, "storage proofs for one account"); err != nil {
			return err
		}
		total += len(p.Storage)
	}
	return checkMax(total, MaxProofSlots, "storage proofs")
}

// Validate checks the reply's bounds.
func (r *CodeReply) Validate() error { return checkMax(len(r.Codes), MaxCode, "codes") }

// Validate checks the reply's bounds and that every status is known.
func (r *TxStatus) Validate() error {
	if err := checkMax(len(r.Statuses), max(MaxTxStatus, MaxTxs), "transaction statuses"); err != nil {
		return err
	}
	for i, s := range r.Statuses {
		if s.Status > TxIncluded {
			return fmt.Errorf("%w: status %d of item %d", ErrInvalidRequest, s.Status, i)
		}
		if len(s.Error) > MaxErrorReasonLen {
			return fmt.Errorf("%w: error text of item %d is %d bytes", ErrInvalidRequest, i, len(s.Error))
		}
		if len(s.Tx) > TxSizeLimit(s.Tx) {
			return fmt.Errorf("%w: transaction of item %d is %d bytes", ErrInvalidRequest, i, len(s.Tx))
		}
	}
	return nil
}

// Validate checks the signature's length (Signer checks the signature) and
// that the safe block is not above the head nor the finalized block above
// the safe one.
func (a *Announce) Validate() error {
	if len(a.Signature) != 65 {
		return fmt.Errorf("%w: signature is %d bytes", ErrBadAnnounce, len(a.Signature))
	}
	if a.Safe != nil && a.Safe.Number > a.Number {
		return fmt.Errorf("%w: safe block %d above head %d", ErrBadAnnounce, a.Safe.Number, a.Number)
	}
	if a.Finalized != nil {
		top := a.Number
		if a.Safe != nil {
			top = a.Safe.Number
		}
		if a.Finalized.Number > top {
			return fmt.Errorf("%w: finalized block %d above safe block or head %d", ErrBadAnnounce, a.Finalized.Number, top)
		}
	}
	return nil
}

// Validate checks the part's bounds.
func (r *ReceiptsPart) Validate() error {
	if r.Count > MaxPartReceipts {
		return fmt.Errorf("%w: %d receipts in a part, limit %d", ErrTooManyItems, r.Count, MaxPartReceipts)
	}
	return checkMax(len(r.Nodes), MaxPartNodes, "trie nodes in a receipts part")
}

func checkMax(n, max int, what string) error {
	if n > max {
		return fmt.Errorf("%w: %d %s, limit %d", ErrTooManyItems, n, what, max)
	}
	return nil
}

// Validate checks the witness's bounds.
func (r *Witness) Validate() error {
	if err := checkMax(len(r.Accounts), MaxWitnessAccounts, "witness accounts"); err != nil {
		return err
	}
	slots := 0
	for _, a := range r.Accounts {
		slots += len(a.Slots)
	}
	if err := checkMax(slots, MaxWitnessSlots, "witness slots"); err != nil {
		return err
	}
	if err := checkMax(len(r.Nodes), MaxWitnessNodes, "witness trie nodes"); err != nil {
		return err
	}
	return checkMax(len(r.Codes), MaxWitnessCodes, "witness codes")
}
