package rpcapi

import "github.com/lightmarket/lightmarket/client"

// LmAPI is the lm_ namespace: what the light client knows of its servers
// and its head, for the wallet user and for tests.
type LmAPI struct{ c *client.Client }

// Servers is lm_servers: every configured server with its statistics.
func (api *LmAPI) Servers() []client.ServerStats { return api.c.Servers() }

// Head is lm_head: the accepted head and how many trusted servers signed
// it (or a descendant), of how many needed.
func (api *LmAPI) Head() (*client.HeadInfo, error) {
	h := api.c.HeadInfo()
	if h == nil {
		return nil, client.ErrNoHead
	}
	return h, nil
}
