// Package statuspage serves lightmarket's status pages: one self-contained
// HTML page per node kind (the server's on its admin address, the
// client's on its JSON-RPC address), with its styles and script inline and
// no external resource, so that it works offline. The page reads the
// node's own lm_ JSON-RPC methods from the same origin and refreshes every
// two seconds.
package statuspage

import (
	_ "embed"
	"net/http"
	"strings"
)

var (
	//go:embed common.html
	common string
	//go:embed server.html
	serverBody string
	//go:embed client.html
	clientBody string
)

// page assembles a page: the shared head (styles, helpers) and a body.
func page(title, body string) []byte {
	return []byte(strings.NewReplacer("{{TITLE}}", title, "{{BODY}}", body).Replace(common))
}

var (
	serverPage = page("lightmarket server", serverBody)
	clientPage = page("lightmarket client", clientBody)
)

// Server is the server's status page.
func Server() http.Handler { return handler(serverPage) }

// Client is the client's status page.
func Client() http.Handler { return handler(clientPage) }

func handler(body []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		// Nothing but this page's own inline code, and calls to its origin.
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:")
		w.Write(body)
	})
}

// Wants reports whether r asks for a status page: a browser's GET of /
// or /status (JSON-RPC comes as POST, WebSocket with an Upgrade header).
func Wants(r *http.Request) bool {
	if r.Method != http.MethodGet || r.Header.Get("Upgrade") != "" {
		return false
	}
	if r.URL.Path == "/status" {
		return true
	}
	return r.URL.Path == "/" && strings.Contains(r.Header.Get("Accept"), "text/html")
}
