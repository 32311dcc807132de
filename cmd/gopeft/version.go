package main

import "github.com/gopeft/gopeft/peft"

var version = peft.Version
