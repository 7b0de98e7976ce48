# The commands of the README. `make test` is what CI runs.
.PHONY: test devnet build

test:
	./scripts/test

devnet:
	go run ./cmd/lightmarket devnet

build:
	go build -o bin/lightmarket ./cmd/lightmarket
