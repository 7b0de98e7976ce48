package devbeacon

import (
	"errors"
	"fmt"

	bitfield "github.com/OffchainLabs/go-bitfield"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/capella"
	"github.com/attestantio/go-eth2-client/spec/deneb"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/ethereum/go-ethereum/beacon/merkle"
	"github.com/ethereum/go-ethereum/beacon/params"
	"github.com/ethereum/go-ethereum/beacon/types"
	"github.com/ethereum/go-ethereum/common"
	ctypes "github.com/ethereum/go-ethereum/core/types"
	"github.com/holiman/uint256"
	dynssz "github.com/pk910/dynamic-ssz"
)

// Version is the fork every devbeacon chain runs from its genesis, as the
// beacon API names it.
const Version = "electra"

// FinalityLag is how many slots behind a header its finalized header is
// (two epochs, as on a healthy chain).
const FinalityLag = 2 * params.EpochLength

// Config is the consensus configuration of a devbeacon chain whose
// genesis validators root is gvr: every fork active from genesis, with the
// versions of no public network (their first byte is 0xde).
func Config(gvr common.Hash) *params.ChainConfig {
	c := &params.ChainConfig{GenesisValidatorsRoot: gvr}
	for i, name := range []string{"GENESIS", "ALTAIR", "BELLATRIX", "CAPELLA", "DENEB", "ELECTRA"} {
		c.AddFork(name, 0, []byte{0xde, 0x00, 0x00, byte(i)})
	}
	return c
}

// Chain is a beacon chain over an execution chain: the execution block of
// number n is the payload of the beacon block at slot n, and one committee
// signs every period.
type Chain struct {
	config    *params.ChainConfig
	committee *Committee
	blocks    []*block // by slot
	slots     map[common.Hash]uint64
}

type block struct {
	header  types.Header
	payload *deneb.ExecutionPayloadHeader
	body    *electra.BeaconBlockBody
	exec    types.HeaderWithExecProof
	state   tree
}

// ErrNoBlock says a block asked for is not in the chain.
var ErrNoBlock = errors.New("devbeacon: no such block")

// NewChain starts a beacon chain signed by committee, configured by config.
func NewChain(config *params.ChainConfig, committee *Committee) *Chain {
	return &Chain{config: config, committee: committee, slots: make(map[common.Hash]uint64)}
}

// Config is the chain's consensus configuration.
func (c *Chain) Config() *params.ChainConfig { return c.config }

// Add wraps the next execution block, given by its header only (its
// payload holds no transactions or withdrawals), in a beacon block.
func (c *Chain) Add(h *ctypes.Header) error { return c.AddBlock(ctypes.NewBlockWithHeader(h)) }

// AddBlock wraps the next execution block (its number is the number of
// blocks added so far) in a beacon block.
func (c *Chain) AddBlock(eb *ctypes.Block) error {
	h := eb.Header()
	slot := uint64(len(c.blocks))
	if h.Number.Uint64() != slot {
		return fmt.Errorf("devbeacon: execution block %d added at slot %d", h.Number, slot)
	}
	body, err := blockBody(eb)
	if err != nil {
		return fmt.Errorf("devbeacon: block %d: %w", slot, err)
	}
	exec := types.NewExecutionHeader(body.header)
	committee := merkle.Value(c.committee.serialized.Root())
	state := tree{
		params.StateIndexSyncCommittee(Version):     committee,
		params.StateIndexNextSyncCommittee(Version): committee,
	}
	if slot > 0 {
		state[params.StateIndexFinalBlock(Version)] = merkle.Value(c.blocks[finalizedSlot(slot)].header.Hash())
	}
	b := &block{state: state, payload: body.header, body: body.body}
	// The parent root is the one the execution block names (EIP-4788), so
	// that the block's payload converts back to the execution block.
	b.header = types.Header{Slot: slot, StateRoot: state.root(), BodyRoot: body.root}
	if h.ParentBeaconRoot != nil {
		b.header.ParentRoot = *h.ParentBeaconRoot
	}
	b.exec = types.HeaderWithExecProof{
		Header: b.header,
		Proof:  &types.LegacyHeaderProof{PayloadHeader: exec, Branch: body.branch},
	}
	c.blocks = append(c.blocks, b)
	c.slots[b.header.Hash()] = slot
	return nil
}

func finalizedSlot(slot uint64) uint64 { return slot - min(slot, FinalityLag) }

// Head is the latest beacon header (false before any block).
func (c *Chain) Head() (types.Header, bool) {
	if len(c.blocks) == 0 {
		return types.Header{}, false
	}
	return c.blocks[len(c.blocks)-1].header, true
}

// Header is the beacon header with the given root.
func (c *Chain) Header(root common.Hash) (types.Header, bool) {
	slot, ok := c.slots[root]
	if !ok {
		return types.Header{}, false
	}
	return c.blocks[slot].header, true
}

// PayloadHeaderSSZ is the SSZ encoding of the execution payload header of
// the block at slot, as the lm protocol carries it.
func (c *Chain) PayloadHeaderSSZ(slot uint64) ([]byte, error) {
	if slot >= uint64(len(c.blocks)) {
		return nil, fmt.Errorf("%w: slot %d", ErrNoBlock, slot)
	}
	return c.blocks[slot].payload.MarshalSSZ()
}

// Root is the root of the beacon block at slot (false beyond the head).
func (c *Chain) Root(slot uint64) (common.Hash, bool) {
	if slot >= uint64(len(c.blocks)) {
		return common.Hash{}, false
	}
	return c.blocks[slot].header.Hash(), true
}

// Bootstrap is the light-client bootstrap at the header with root.
func (c *Chain) Bootstrap(root common.Hash) (*types.BootstrapData, error) {
	if slot, ok := c.slots[root]; ok {
		b := c.blocks[slot]
		return &types.BootstrapData{
			Version:         Version,
			Header:          b.header,
			CommitteeRoot:   c.committee.serialized.Root(),
			Committee:       c.committee.Serialized(),
			CommitteeBranch: b.state.branch(params.StateIndexSyncCommittee(Version)),
		}, nil
	}
	return nil, fmt.Errorf("%w: %x", ErrNoBlock, root)
}

// Update is the best committee update of a period: its last header that
// is signed within the period, with its finalized header, signed by
// signers.
func (c *Chain) Update(period uint64, signers [params.SyncCommitteeBitmaskSize]byte) (*types.LightClientUpdate, *types.SerializedSyncCommittee, error) {
	// (A period beyond the head's is refused before its start slot is
	// computed: a caller's period may overflow it.)
	if len(c.blocks) == 0 || period > types.SyncPeriod(uint64(len(c.blocks))-1) {
		return nil, nil, fmt.Errorf("%w: no update for period %d", ErrNoBlock, period)
	}
	last := min(types.SyncPeriodStart(period+1)-2, uint64(len(c.blocks))-1)
	if last < types.SyncPeriodStart(period) || last == 0 {
		return nil, nil, fmt.Errorf("%w: no update for period %d", ErrNoBlock, period)
	}
	b := c.blocks[last]
	sh, err := c.sign(b.header, signers)
	if err != nil {
		return nil, nil, err
	}
	fin := c.blocks[finalizedSlot(last)].header
	return &types.LightClientUpdate{
		Version:                 Version,
		AttestedHeader:          sh,
		NextSyncCommitteeRoot:   c.committee.serialized.Root(),
		NextSyncCommitteeBranch: b.state.branch(params.StateIndexNextSyncCommittee(Version)),
		FinalizedHeader:         &fin,
		FinalityBranch:          b.state.branch(params.StateIndexFinalBlock(Version)),
	}, c.committee.Serialized(), nil
}

// Optimistic is the optimistic update of the head, signed by signers.
func (c *Chain) Optimistic(signers [params.SyncCommitteeBitmaskSize]byte) (types.OptimisticUpdate, error) {
	if len(c.blocks) == 0 {
		return types.OptimisticUpdate{}, ErrNoBlock
	}
	b := c.blocks[len(c.blocks)-1]
	sh, err := c.sign(b.header, signers)
	if err != nil {
		return types.OptimisticUpdate{}, err
	}
	return types.OptimisticUpdate{Attested: b.exec, Signature: sh.Signature, SignatureSlot: sh.SignatureSlot}, nil
}

// Finality is the finality update of the head, signed by signers.
func (c *Chain) Finality(signers [params.SyncCommitteeBitmaskSize]byte) (types.FinalityUpdate, error) {
	if len(c.blocks) < 2 {
		return types.FinalityUpdate{}, ErrNoBlock
	}
	b := c.blocks[len(c.blocks)-1]
	sh, err := c.sign(b.header, signers)
	if err != nil {
		return types.FinalityUpdate{}, err
	}
	return types.FinalityUpdate{
		Version:        Version,
		Attested:       b.exec,
		Finalized:      c.blocks[finalizedSlot(b.header.Slot)].exec,
		FinalityBranch: b.state.branch(params.StateIndexFinalBlock(Version)),
		Signature:      sh.Signature,
		SignatureSlot:  sh.SignatureSlot,
	}, nil
}

// sign has h signed in the next slot.
func (c *Chain) sign(h types.Header, signers [params.SyncCommitteeBitmaskSize]byte) (types.SignedHeader, error) {
	root, err := c.config.Forks.SigningRoot(h.Epoch(), h.Hash())
	if err != nil {
		return types.SignedHeader{}, err
	}
	agg, err := c.committee.Sign(root, signers)
	if err != nil {
		return types.SignedHeader{}, err
	}
	return types.SignedHeader{Header: h, Signature: agg, SignatureSlot: h.Slot + 1}, nil
}

// Generalized indices in an execution payload (17 fields, 32 leaves).
const (
	payloadIndexTransactions = 32 + 13
	payloadIndexWithdrawals  = 32 + 14
)

// builtBody is an electra block body around an execution block, with its
// root, its payload's header and the branch of that header's root.
type builtBody struct {
	body   *electra.BeaconBlockBody
	header *deneb.ExecutionPayloadHeader
	root   common.Hash
	branch merkle.Values
}

// blockBody builds the electra body of an execution block: its execution
// payload, empty operations, an empty sync aggregate and no execution
// requests; every root in it is its SSZ hash tree root.
func blockBody(eb *ctypes.Block) (*builtBody, error) {
	h := eb.Header()
	if len(h.Extra) > 32 {
		return nil, fmt.Errorf("%d bytes of extra data, a payload at most 32", len(h.Extra))
	}
	p := &deneb.ExecutionPayload{
		ParentHash:    phase0.Hash32(h.ParentHash),
		FeeRecipient:  bellatrix.ExecutionAddress(h.Coinbase),
		StateRoot:     phase0.Root(h.Root),
		ReceiptsRoot:  phase0.Root(h.ReceiptHash),
		LogsBloom:     h.Bloom,
		PrevRandao:    h.MixDigest,
		BlockNumber:   h.Number.Uint64(),
		GasLimit:      h.GasLimit,
		GasUsed:       h.GasUsed,
		Timestamp:     h.Time,
		ExtraData:     append([]byte{}, h.Extra...),
		BaseFeePerGas: new(uint256.Int),
		BlockHash:     phase0.Hash32(h.Hash()),
		Transactions:  []bellatrix.Transaction{},
		Withdrawals:   []*capella.Withdrawal{},
	}
	if h.BaseFee != nil {
		p.BaseFeePerGas = uint256.MustFromBig(h.BaseFee)
	}
	if h.BlobGasUsed != nil {
		p.BlobGasUsed = *h.BlobGasUsed
	}
	if h.ExcessBlobGas != nil {
		p.ExcessBlobGas = *h.ExcessBlobGas
	}
	for _, tx := range eb.Transactions() {
		enc, err := tx.MarshalBinary()
		if err != nil {
			return nil, err
		}
		p.Transactions = append(p.Transactions, enc)
	}
	for _, w := range eb.Withdrawals() {
		p.Withdrawals = append(p.Withdrawals, &capella.Withdrawal{Index: capella.WithdrawalIndex(w.Index),
			ValidatorIndex: phase0.ValidatorIndex(w.Validator), Address: bellatrix.ExecutionAddress(w.Address), Amount: phase0.Gwei(w.Amount)})
	}
	ssz := dynssz.GetGlobalDynSsz()
	pt, err := ssz.GetTree(p)
	if err != nil {
		return nil, fmt.Errorf("payload tree: %w", err)
	}
	header := &deneb.ExecutionPayloadHeader{
		ParentHash: p.ParentHash, FeeRecipient: p.FeeRecipient, StateRoot: p.StateRoot, ReceiptsRoot: p.ReceiptsRoot,
		LogsBloom: p.LogsBloom, PrevRandao: p.PrevRandao, BlockNumber: p.BlockNumber, GasLimit: p.GasLimit,
		GasUsed: p.GasUsed, Timestamp: p.Timestamp, ExtraData: p.ExtraData, BaseFeePerGas: p.BaseFeePerGas,
		BlockHash: p.BlockHash, BlobGasUsed: p.BlobGasUsed, ExcessBlobGas: p.ExcessBlobGas,
	}
	for g, root := range map[int]*phase0.Root{payloadIndexTransactions: &header.TransactionsRoot, payloadIndexWithdrawals: &header.WithdrawalsRoot} {
		n, err := pt.Get(g)
		if err != nil {
			return nil, fmt.Errorf("payload tree: %w", err)
		}
		copy(root[:], n.Hash())
	}
	pr, err1 := p.HashTreeRoot()
	hr, err2 := header.HashTreeRoot()
	if err := errors.Join(err1, err2); err != nil || pr != hr {
		return nil, fmt.Errorf("payload header root %x, payload root %x: %v", hr, pr, err)
	}
	body := &electra.BeaconBlockBody{
		ETH1Data:          &phase0.ETH1Data{BlockHash: make([]byte, 32)},
		SyncAggregate:     &altair.SyncAggregate{SyncCommitteeBits: bitfield.NewBitvector512()},
		ExecutionPayload:  p,
		ExecutionRequests: &electra.ExecutionRequests{},
	}
	root, err := body.HashTreeRoot()
	if err != nil {
		return nil, fmt.Errorf("body root: %w", err)
	}
	bt, err := ssz.GetTree(body)
	if err != nil {
		return nil, fmt.Errorf("body tree: %w", err)
	}
	proof, err := bt.Prove(int(params.BodyIndexExecPayload))
	if err != nil {
		return nil, fmt.Errorf("payload proof: %w", err)
	}
	branch := make(merkle.Values, len(proof.Hashes))
	for i, hash := range proof.Hashes {
		copy(branch[i][:], hash)
	}
	if err := merkle.VerifyProof(common.Hash(root), params.BodyIndexExecPayload, branch, merkle.Value(hr)); err != nil {
		return nil, fmt.Errorf("payload branch: %w", err)
	}
	return &builtBody{body: body, header: header, root: common.Hash(root), branch: branch}, nil
}
