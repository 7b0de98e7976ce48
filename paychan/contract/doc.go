// Package contract holds the Go bindings of contracts/Channels.sol, made by
// abigen --v2 (scripts/gen-contracts); CI checks that they match the source.
package contract
