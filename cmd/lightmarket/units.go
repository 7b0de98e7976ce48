package main

import "github.com/lightmarket/lightmarket/paychan"

// parseGwei reads a decimal amount of gwei as wei (paychan.ParseGwei).
var parseGwei = paychan.ParseGwei
