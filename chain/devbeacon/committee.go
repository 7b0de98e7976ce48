// Package devbeacon is a development consensus layer: beacon headers over
// an execution chain's blocks, signed by a sync committee of 512 BLS keys
// it holds, and the light-client data a consensus client serves about them
// (bootstrap, committee updates, optimistic and finality updates), built so
// that go-ethereum's beacon/light verifies them as it verifies a real
// chain's. Its beacon state is not a real one: the state and body roots
// commit to what a light client reads (the sync committees, the finalized
// header, the execution payload header) and to nothing else. It is for
// devnets and tests; it proves nothing about any real chain.
package devbeacon

import (
	"crypto/sha256"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/beacon/params"
	"github.com/ethereum/go-ethereum/beacon/types"
	"github.com/ethereum/go-ethereum/common"
	bls "github.com/protolambda/bls12-381-util"
)

// curveOrder is the order of BLS12-381's groups: secret keys are scalars
// below it.
var curveOrder, _ = new(big.Int).SetString("73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001", 16)

// Committee is a sync committee whose secret keys are known.
type Committee struct {
	secrets    [params.SyncCommitteeSize]*big.Int
	serialized types.SerializedSyncCommittee
}

// NewCommittee derives a committee's 512 keys from seed: the same seed
// gives the same committee.
func NewCommittee(seed string) (*Committee, error) {
	c := new(Committee)
	pubs := make([]*bls.Pubkey, params.SyncCommitteeSize)
	for i := range c.secrets {
		h := sha256.Sum256(fmt.Appendf(nil, "lightmarket devbeacon %s %d", seed, i))
		k := new(big.Int).Mod(new(big.Int).SetBytes(h[:]), curveOrder)
		if k.Sign() == 0 {
			k.SetInt64(1)
		}
		c.secrets[i] = k
		sk, err := secretKey(k)
		if err != nil {
			return nil, err
		}
		if pubs[i], err = bls.SkToPk(sk); err != nil {
			return nil, err
		}
		b := pubs[i].Serialize()
		copy(c.serialized[i*params.BLSPubkeySize:], b[:])
	}
	agg, err := bls.AggregatePubkeys(pubs)
	if err != nil {
		return nil, err
	}
	b := agg.Serialize()
	copy(c.serialized[params.SyncCommitteeSize*params.BLSPubkeySize:], b[:])
	return c, nil
}

// Serialized is the committee as the light-client protocol carries it.
func (c *Committee) Serialized() *types.SerializedSyncCommittee {
	s := c.serialized
	return &s
}

// Sign signs root by the members whose bits signers sets. The members'
// signatures of one message aggregate to the signature of the sum of
// their secret keys, which is what is computed.
func (c *Committee) Sign(root common.Hash, signers [params.SyncCommitteeBitmaskSize]byte) (types.SyncAggregate, error) {
	agg := types.SyncAggregate{Signers: signers}
	sum := new(big.Int)
	for i, k := range c.secrets {
		if signers[i/8]&(1<<(i%8)) != 0 {
			sum.Add(sum, k)
		}
	}
	if sum.Mod(sum, curveOrder).Sign() == 0 {
		// No signer (or keys summing to zero): the point at infinity.
		agg.Signature[0] = 0xc0
		return agg, nil
	}
	sk, err := secretKey(sum)
	if err != nil {
		return agg, err
	}
	agg.Signature = bls.Sign(sk, root[:]).Serialize()
	return agg, nil
}

// AllSign is the bitmask of the whole committee; FirstSign(n) that of its
// first n members.
func AllSign() [params.SyncCommitteeBitmaskSize]byte { return FirstSign(params.SyncCommitteeSize) }

func FirstSign(n int) (b [params.SyncCommitteeBitmaskSize]byte) {
	for i := range min(n, params.SyncCommitteeSize) {
		b[i/8] |= 1 << (i % 8)
	}
	return b
}

func secretKey(k *big.Int) (*bls.SecretKey, error) {
	var b [32]byte
	k.FillBytes(b[:])
	sk := new(bls.SecretKey)
	if err := sk.Deserialize(&b); err != nil {
		return nil, fmt.Errorf("devbeacon: secret key: %w", err)
	}
	return sk, nil
}
