// Package protocol defines lightmarket's wire protocol "lm" over devp2p
// (RLPx): message codes, one Go type per message with its RLP layout, the
// limits that bound every message, and the errors a peer can cause.
//
// It owns the encoding and validation of messages, not their handling: the
// server and client packages run the peer loops. docs/protocol.md is the
// specification and changes together with this package.
//
// # Message flow
//
// Both sides send Status first. The server then sends Announce for its
// current head and for every new head. Requests carry a ReqID chosen by the
// client; the reply echoes it together with the client's buffer value (BV)
// in the server's flow control. A peer that breaks a rule is sent Error,
// naming the rule, and disconnected.
package protocol
