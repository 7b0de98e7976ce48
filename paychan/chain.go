package paychan

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/lightmarket/lightmarket/paychan/contract"
)

// Backend is what the contract wrapper needs of a chain: an
// ethclient.Client (over HTTP, WebSocket or in-process RPC) has it all.
type Backend interface {
	bind.ContractBackend
	bind.DeployBackend
	BlockNumber(ctx context.Context) (uint64, error)
	ChainID(ctx context.Context) (*big.Int, error)
}

// State is a channel's state on chain.
type State struct {
	Deposit  *big.Int // wei locked in total
	Claimed  *big.Int // wei paid to the receiver so far
	CloseAt  uint64   // end of the challenge period (unix seconds); 0 while open
	Finished bool     // closed and refunded
}

// Exists reports whether the channel was ever opened.
func (s State) Exists() bool { return s.Deposit.Sign() > 0 || s.CloseAt != 0 || s.Finished }

// finished is the contract's closeAt of a finished channel.
const finished = ^uint64(0)

// Contract is a deployed Channels contract.
type Contract struct {
	backend Backend
	abi     *contract.Channels
	inst    *bind.BoundContract
	chainID *big.Int
	domain  Domain
	// Confirmations is how many blocks below the head State reads (0 reads
	// the head) and how deep transactions must be before they count.
	Confirmations uint64

	nonceMu sync.Mutex // serialises this process's transactions per key
}

// Revert is a transaction or call the contract refused, with its reason
// decoded from the contract's custom errors.
type Revert struct {
	Reason string
}

func (r *Revert) Error() string { return "channels contract: " + r.Reason }

// Deploy deploys a Channels contract with the challenge period (seconds),
// sending from key, and waits for it to be mined.
func Deploy(ctx context.Context, backend Backend, key *ecdsa.PrivateKey, challengePeriod uint64) (common.Address, error) {
	chainID, err := backend.ChainID(ctx)
	if err != nil {
		return common.Address{}, err
	}
	c := contract.NewChannels()
	opts := bind.NewKeyedTransactor(key, chainID)
	opts.Context = ctx
	addr, tx, err := bind.DeployContract(opts, common.FromHex(contract.ChannelsMetaData.Bin), backend, c.PackConstructor(challengePeriod))
	if err != nil {
		return common.Address{}, fmt.Errorf("deploying channels contract: %w", err)
	}
	// As bind.WaitDeployed, polling as waitMined does.
	receipt, err := waitMined(ctx, backend, tx.Hash())
	if err != nil {
		return common.Address{}, fmt.Errorf("deploying channels contract: %w", err)
	}
	if receipt.Status != types.ReceiptStatusSuccessful {
		return common.Address{}, fmt.Errorf("deploying channels contract: transaction %v reverted", tx.Hash())
	}
	code, err := backend.CodeAt(ctx, addr, nil)
	if err == nil && len(code) == 0 {
		err = bind.ErrNoCodeAfterDeploy
	}
	if err != nil {
		return common.Address{}, fmt.Errorf("deploying channels contract: %w", err)
	}
	return addr, nil
}

// Open connects to the contract at addr, checking that code is there.
func Open(ctx context.Context, backend Backend, addr common.Address) (*Contract, error) {
	chainID, err := backend.ChainID(ctx)
	if err != nil {
		return nil, err
	}
	code, err := backend.CodeAt(ctx, addr, nil)
	if err != nil {
		return nil, err
	}
	if len(code) == 0 {
		return nil, fmt.Errorf("no contract at %v on chain %v", addr, chainID)
	}
	c := contract.NewChannels()
	return &Contract{
		backend: backend,
		abi:     c,
		inst:    c.Instance(backend, addr),
		chainID: chainID,
		domain:  NewDomain(chainID.Uint64(), addr),
	}, nil
}

// Address is the contract's address.
func (c *Contract) Address() common.Address { return c.inst.Address() }

// Domain is the vouchers' domain for this contract.
func (c *Contract) Domain() Domain { return c.domain }

// ChallengePeriod is the contract's challenge period.
func (c *Contract) ChallengePeriod(ctx context.Context) (time.Duration, error) {
	secs, err := bind.Call(c.inst, &bind.CallOpts{Context: ctx}, c.abi.PackChallengePeriod(), c.abi.UnpackChallengePeriod)
	if err != nil {
		return 0, err
	}
	return time.Duration(secs) * time.Second, nil
}

// confirmedBlock is the block State reads: nil (latest) without
// confirmations.
func (c *Contract) confirmedBlock(ctx context.Context) (*big.Int, error) {
	if c.Confirmations == 0 {
		return nil, nil
	}
	head, err := c.backend.BlockNumber(ctx)
	if err != nil {
		return nil, err
	}
	if head < c.Confirmations {
		return new(big.Int), nil
	}
	return new(big.Int).SetUint64(head - c.Confirmations), nil
}

// State reads a channel's state, Confirmations blocks below the head.
func (c *Contract) State(ctx context.Context, id common.Hash) (State, error) {
	block, err := c.confirmedBlock(ctx)
	if err != nil {
		return State{}, err
	}
	return c.StateAt(ctx, id, block)
}

// StateDeep reads a channel's state confirmations blocks below the head,
// as a receiver asking for that many confirmations sees it.
func (c *Contract) StateDeep(ctx context.Context, id common.Hash, confirmations uint64) (State, error) {
	head, err := c.backend.BlockNumber(ctx)
	if err != nil {
		return State{}, err
	}
	return c.StateAt(ctx, id, new(big.Int).SetUint64(head-min(head, confirmations)))
}

// StateAt reads a channel's state at a block (nil: the latest). At a
// block before the contract was deployed (Open found its code at the
// head) no channel exists yet: the state is empty.
func (c *Contract) StateAt(ctx context.Context, id common.Hash, block *big.Int) (State, error) {
	out, err := bind.Call(c.inst, &bind.CallOpts{Context: ctx, BlockNumber: block}, c.abi.PackChannels(id), c.abi.UnpackChannels)
	if block != nil && errors.Is(err, bind.ErrNoCode) {
		return State{Deposit: new(big.Int), Claimed: new(big.Int)}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("reading channel %x: %w", id[:8], err)
	}
	st := State{Deposit: out.Deposit, Claimed: out.Claimed, CloseAt: out.CloseAt}
	if st.CloseAt == finished {
		st.CloseAt, st.Finished = 0, true
	}
	return st, nil
}

// ChannelIDOnChain asks the contract for a channel id (ChannelID computes
// the same locally).
func (c *Contract) ChannelIDOnChain(ctx context.Context, sender, receiver common.Address, nonce uint64) (common.Hash, error) {
	id, err := bind.Call(c.inst, &bind.CallOpts{Context: ctx}, c.abi.PackChannelId(sender, receiver, nonce), c.abi.UnpackChannelId)
	return common.Hash(id), err
}

// DigestOnChain asks the contract for a voucher's digest (Domain.Digest
// computes the same locally).
func (c *Contract) DigestOnChain(ctx context.Context, channel common.Hash, receiver common.Address, amount *big.Int) (common.Hash, error) {
	d, err := bind.Call(c.inst, &bind.CallOpts{Context: ctx}, c.abi.PackVoucherDigest(channel, receiver, amount), c.abi.UnpackVoucherDigest)
	return common.Hash(d), err
}

// OpenChannel opens a channel from key's address to receiver with the
// deposit and waits for it.
func (c *Contract) OpenChannel(ctx context.Context, key *ecdsa.PrivateKey, receiver common.Address, nonce uint64, deposit *big.Int) (*types.Receipt, error) {
	return c.transact(ctx, key, deposit, c.abi.PackOpen(receiver, nonce))
}

// TopUp adds to the deposit of the channel from key's address to receiver.
func (c *Contract) TopUp(ctx context.Context, key *ecdsa.PrivateKey, receiver common.Address, nonce uint64, amount *big.Int) (*types.Receipt, error) {
	return c.transact(ctx, key, amount, c.abi.PackTopUp(receiver, nonce))
}

// Claim claims voucher v for the receiver key.
func (c *Contract) Claim(ctx context.Context, key *ecdsa.PrivateKey, v *Voucher) (*types.Receipt, error) {
	var r, s [32]byte
	copy(r[:], v.Sig[:32])
	copy(s[:], v.Sig[32:64])
	vv := c.Domain().ClaimV(v, crypto.PubkeyToAddress(key.PublicKey))
	return c.transact(ctx, key, nil, c.abi.PackClaim(v.Sender, v.Nonce, v.Amount, vv, r, s))
}

// SignClaim signs, without sending it, a transaction claiming voucher v
// for the receiver key: a claimer records its hash before it sends it
// (SendSigned), so that whoever claims after it can tell whether it was
// mined. A claim the contract would refuse fails here, with a *Revert.
func (c *Contract) SignClaim(ctx context.Context, key *ecdsa.PrivateKey, v *Voucher) (*types.Transaction, error) {
	var r, s [32]byte
	copy(r[:], v.Sig[:32])
	copy(s[:], v.Sig[32:64])
	vv := c.Domain().ClaimV(v, crypto.PubkeyToAddress(key.PublicKey))
	c.nonceMu.Lock()
	defer c.nonceMu.Unlock()
	opts := bind.NewKeyedTransactor(key, c.chainID)
	opts.Context = ctx
	opts.NoSend = true
	tx, err := bind.Transact(c.inst, opts, c.abi.PackClaim(v.Sender, v.Nonce, v.Amount, vv, r, s))
	if err != nil {
		return nil, c.decodeRevert(err)
	}
	return tx, nil
}

// SendSigned sends a transaction signed by SignClaim and waits until it
// is mined and Confirmations deep.
func (c *Contract) SendSigned(ctx context.Context, tx *types.Transaction) (*types.Receipt, error) {
	if err := c.backend.SendTransaction(ctx, tx); err != nil {
		return nil, c.decodeRevert(err)
	}
	return c.await(ctx, tx.Hash())
}

// TxStatus says what became of a transaction sent before: its receipt
// once mined; pending while the node holds it unmined; neither when the
// node does not know it (never sent, or dropped).
func (c *Contract) TxStatus(ctx context.Context, hash common.Hash) (receipt *types.Receipt, pending bool, err error) {
	receipt, err = c.backend.TransactionReceipt(ctx, hash)
	if err == nil {
		return receipt, false, nil
	}
	byHash, ok := c.backend.(interface {
		TransactionByHash(context.Context, common.Hash) (*types.Transaction, bool, error)
	})
	if !ok {
		return nil, false, fmt.Errorf("the chain backend cannot look up transactions: %w", err)
	}
	_, pending, err = byHash.TransactionByHash(ctx, hash)
	if errors.Is(err, ethereum.NotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if !pending {
		// Mined between the two questions.
		receipt, err = c.backend.TransactionReceipt(ctx, hash)
		return receipt, false, err
	}
	return nil, true, nil
}

// StartClose starts closing the channel from key's address to receiver.
func (c *Contract) StartClose(ctx context.Context, key *ecdsa.PrivateKey, receiver common.Address, nonce uint64) (*types.Receipt, error) {
	return c.transact(ctx, key, nil, c.abi.PackStartClose(receiver, nonce))
}

// FinishClose ends the channel after its challenge period and refunds.
func (c *Contract) FinishClose(ctx context.Context, key *ecdsa.PrivateKey, receiver common.Address, nonce uint64) (*types.Receipt, error) {
	return c.transact(ctx, key, nil, c.abi.PackFinishClose(receiver, nonce))
}

// transact sends a transaction to the contract and waits until it is
// mined and Confirmations deep. A refused transaction fails before it is
// sent, when its gas is estimated, with a *Revert.
func (c *Contract) transact(ctx context.Context, key *ecdsa.PrivateKey, value *big.Int, data []byte) (*types.Receipt, error) {
	c.nonceMu.Lock()
	opts := bind.NewKeyedTransactor(key, c.chainID)
	opts.Context = ctx
	opts.Value = value
	tx, err := bind.Transact(c.inst, opts, data)
	c.nonceMu.Unlock()
	if err != nil {
		return nil, c.decodeRevert(err)
	}
	return c.await(ctx, tx.Hash())
}

// await waits for a sent transaction to be mined and Confirmations deep.
func (c *Contract) await(ctx context.Context, hash common.Hash) (*types.Receipt, error) {
	receipt, err := waitMined(ctx, c.backend, hash)
	if err != nil {
		return nil, err
	}
	if receipt.Status != types.ReceiptStatusSuccessful {
		return receipt, fmt.Errorf("transaction %v reverted", hash)
	}
	if err := c.waitConfirmed(ctx, receipt.BlockNumber.Uint64()); err != nil {
		return receipt, err
	}
	return receipt, nil
}

// waitMined polls for tx's receipt, quickly at first (bind.WaitMined polls
// once a second, longer than a dev chain's block time).
func waitMined(ctx context.Context, b Backend, tx common.Hash) (*types.Receipt, error) {
	wait := 20 * time.Millisecond
	for {
		// Not found yet, or the node still indexing: ask again.
		receipt, err := b.TransactionReceipt(ctx, tx)
		if err == nil {
			return receipt, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

func (c *Contract) waitConfirmed(ctx context.Context, block uint64) error {
	for c.Confirmations > 0 {
		head, err := c.backend.BlockNumber(ctx)
		if err != nil {
			return err
		}
		if head >= block+c.Confirmations {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// decodeRevert turns a revert with one of the contract's custom errors
// into a *Revert naming it.
func (c *Contract) decodeRevert(err error) error {
	var de rpc.DataError
	if !errors.As(err, &de) {
		return err
	}
	var raw []byte
	switch data := de.ErrorData().(type) {
	case string:
		raw, _ = hexutil.Decode(data)
	case []byte:
		raw = data
	}
	if len(raw) < 4 {
		return err
	}
	decoded, derr := c.abi.UnpackError(raw)
	if derr != nil {
		return err
	}
	return &Revert{Reason: revertReason(decoded)}
}

func revertReason(e any) string {
	switch e := e.(type) {
	case *contract.ChannelsAmountAboveDeposit:
		return fmt.Sprintf("amount %v above deposit %v", e.Amount, e.Deposit)
	case *contract.ChannelsAmountNotAboveClaimed:
		return fmt.Sprintf("amount %v not above claimed %v", e.Amount, e.Claimed)
	case *contract.ChannelsBadSignature:
		return "bad signature"
	case *contract.ChannelsChallengeNotOver:
		return fmt.Sprintf("challenge period of %x not over until %d", e.Channel[:8], e.CloseAt)
	case *contract.ChannelsChallengeOver:
		return fmt.Sprintf("challenge period of %x over at %d", e.Channel[:8], e.CloseAt)
	case *contract.ChannelsChannelClosing:
		return fmt.Sprintf("channel %x closing at %d", e.Channel[:8], e.CloseAt)
	case *contract.ChannelsChannelExists:
		return fmt.Sprintf("channel %x exists", e.Channel[:8])
	case *contract.ChannelsChannelFinished:
		return fmt.Sprintf("channel %x finished", e.Channel[:8])
	case *contract.ChannelsDepositTooLarge:
		return "deposit too large"
	case *contract.ChannelsNoChannel:
		return fmt.Sprintf("no channel %x", e.Channel[:8])
	case *contract.ChannelsNotClosing:
		return fmt.Sprintf("channel %x not closing", e.Channel[:8])
	case *contract.ChannelsTransferFailed:
		return "transfer failed"
	case *contract.ChannelsZeroDeposit:
		return "zero deposit"
	}
	return fmt.Sprintf("%T", e)
}

// Address of a key, for callers holding only the key.
func Address(key *ecdsa.PrivateKey) common.Address { return crypto.PubkeyToAddress(key.PublicKey) }

// ClaimedEvent decodes a Claimed event of the contract.
func (c *Contract) ClaimedEvent(l *types.Log) (*contract.ChannelsClaimed, error) {
	if l.Address != c.Address() {
		return nil, errors.New("log of another contract")
	}
	return c.abi.UnpackClaimedEvent(l)
}

// ClosedEvent decodes a Closed event of the contract.
func (c *Contract) ClosedEvent(l *types.Log) (*contract.ChannelsClosed, error) {
	if l.Address != c.Address() {
		return nil, errors.New("log of another contract")
	}
	return c.abi.UnpackClosedEvent(l)
}

// DeployRecorded returns the contract whose address the file at path
// records, when the chain has its code, or else deploys one as Deploy does
// and records its address there (synced to disk), so that a chain kept
// across restarts keeps one payment contract.
func DeployRecorded(ctx context.Context, backend Backend, key *ecdsa.PrivateKey, challengePeriod uint64, path string) (addr common.Address, deployed bool, err error) {
	if addr, err = ReadRecorded(path); err == nil {
		code, err := backend.CodeAt(ctx, addr, nil)
		if err != nil {
			return common.Address{}, false, err
		}
		if len(code) > 0 {
			return addr, false, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return common.Address{}, false, err
	}
	if addr, err = Deploy(ctx, backend, key, challengePeriod); err != nil {
		return common.Address{}, false, err
	}
	return addr, true, writeFileSync(path, []byte(addr.Hex()+"\n"))
}

// writeFileSync replaces the file at path with data, durably: a crash
// leaves the old file or the new one.
func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err2 := f.Sync(); err == nil {
		err = err2
	}
	if err2 := f.Close(); err == nil {
		err = err2
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		if dir, err2 := os.Open(filepath.Dir(path)); err2 == nil {
			err = dir.Sync()
			dir.Close()
		}
	}
	return err
}

// ReadRecorded reads the contract address DeployRecorded recorded at path.
func ReadRecorded(path string) (common.Address, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return common.Address{}, err
	}
	s := strings.TrimSpace(string(data))
	if !common.IsHexAddress(s) {
		return common.Address{}, fmt.Errorf("%s: %q is not a contract address", path, s)
	}
	return common.HexToAddress(s), nil
}
