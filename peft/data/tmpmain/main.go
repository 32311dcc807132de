package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/gopeft/gopeft/peft/data"
	"github.com/gopeft/gopeft/peft/tokenizer"
)

func main() {
	texts, err := data.PretrainText("")
	if err != nil {
		panic(err)
	}
	n, _ := strconv.Atoi(os.Args[1])
	t0 := time.Now()
	tk, err := tokenizer.TrainWordPiece(texts, n)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(texts), tk.VocabSize(), time.Since(t0))
	tk.Save("/tmp/tok")
	v := tk.Vocab()
	fmt.Println(v[:5], v[5:40], v[len(v)-30:])
	for _, s := range []string{"Call me Ishmael. The whale swims in the sea.", "The unprecedented growth of our territories on the Pacific", "Congress must act on the economy and taxes."} {
		toks, _ := tk.Tokenize(s)
		fmt.Println(toks)
	}
}
