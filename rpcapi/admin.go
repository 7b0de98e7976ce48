package rpcapi

import (
	"errors"
	"math/big"

	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/lightmarket/lightmarket/client"
	"github.com/lightmarket/lightmarket/evmcall"
)

// LmAPI is the lm_ namespace: what the light client knows of its servers
// and its head, for the wallet user and for tests.
type LmAPI struct {
	c       *client.Client
	demands Demands
}

// Servers is lm_servers: every configured server with its statistics.
func (api *LmAPI) Servers() []client.ServerStats { return api.c.Servers() }

// Head is lm_head: the accepted head, how many trusted servers vouch for
// it of how many needed, how old it is, and, when the client does not
// answer from it, why.
func (api *LmAPI) Head() *client.HeadStatus { return api.c.HeadStatus() }

// DemandArgs is a demand as lm_setDemand takes it: capacity units and wei
// per capacity-unit-second.
type DemandArgs struct {
	Max      hexutil.Uint64 `json:"max"`
	Min      hexutil.Uint64 `json:"min"`
	MaxPrice *hexutil.Big   `json:"maxPrice"`
}

// Demand is lm_demand: the demand the client bids (null: free only).
func (api *LmAPI) Demand() *DemandArgs {
	d := api.demands.Demand()
	if d == nil {
		return nil
	}
	return &DemandArgs{Max: hexutil.Uint64(d.Max), Min: hexutil.Uint64(d.Min), MaxPrice: (*hexutil.Big)(d.MaxPrice)}
}

// LmControlAPI is the lm_ namespace with the methods that spend money,
// served only to calls that carry the control token.
type LmControlAPI struct{ LmAPI }

// SetDemand is lm_setDemand: bid this demand from now on (null: free only).
func (api *LmControlAPI) SetDemand(d *DemandArgs) error {
	if d != nil && !api.c.CanPay() {
		return ErrNoPayment
	}
	if d == nil {
		return api.demands.SetDemand(nil)
	}
	if d.MaxPrice == nil {
		return &evmcall.InvalidParamsError{Message: "maxPrice missing"}
	}
	return api.demands.SetDemand(&client.Demand{Max: uint64(d.Max), Min: uint64(d.Min), MaxPrice: (*big.Int)(d.MaxPrice)})
}

// ErrNoPayment is the answer to a demand of a client that cannot pay.
var ErrNoPayment = errors.New("the client has no payment method, so a demand would never be paid: give it a data directory and a payment key (--datadir and --payment.key or --payment.keyfile)")

// ErrControlToken is the answer to lm_setDemand called without the
// control token.
var ErrControlToken = errors.New("lm_setDemand spends money: call it with the control token (an HS256 JWT signed with the secret in --control.jwtsecret, in an Authorization: Bearer header)")

// lockedLmAPI is served to calls without the control token.
type lockedLmAPI struct{ LmAPI }

func (lockedLmAPI) SetDemand(*DemandArgs) error { return ErrControlToken }

// Spent is lm_spent: what the client paid each server it pays (wei in
// total, and its balance there as last acknowledged).
func (api *LmAPI) Spent() []client.Spending { return api.c.Spending() }
