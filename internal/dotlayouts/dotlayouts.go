// Package dotlayouts is the one table of DotGeneral axis layouts that GoPEFT
// checks every DotGeneral and its gradient on (peft/fastgrad's VJP, the blas
// backend's OpenBLAS calls and its graph ops), so the three test suites cannot
// drift apart.
package dotlayouts

// Layout is one DotGeneral configuration: operand dimensions and which axes
// contract and which are batch axes.
type Layout struct {
	Name                  string
	LHS, RHS              []int
	LHSContract, LHSBatch []int
	RHSContract, RHSBatch []int
}

// Common covers batch axes leading and not, two contracting axes in reversed
// order, attention-shaped products, ranks 1 to 4 and outer products.
var Common = []Layout{
	{"matmul", []int{5, 7}, []int{7, 3}, []int{1}, nil, []int{0}, nil},
	{"matmul_transposed_rhs", []int{5, 7}, []int{3, 7}, []int{1}, nil, []int{1}, nil},
	{"batched_matmul", []int{4, 5, 7}, []int{4, 7, 3}, []int{2}, []int{0}, []int{1}, []int{0}},
	{"batch_not_leading", []int{7, 4, 5}, []int{3, 7, 4}, []int{0}, []int{1}, []int{1}, []int{2}},
	{"two_contracting_reversed", []int{2, 3, 5, 6}, []int{6, 4, 3}, []int{1, 3}, nil, []int{2, 0}, nil},
	{"attention_scores", []int{2, 3, 4, 8}, []int{2, 3, 6, 8}, []int{3}, []int{0, 1}, []int{3}, []int{0, 1}},
	{"attention_values", []int{2, 3, 4, 6}, []int{2, 3, 6, 8}, []int{3}, []int{0, 1}, []int{2}, []int{0, 1}},
	{"rank1_dot", []int{7}, []int{7}, []int{0}, nil, []int{0}, nil},
	{"rank1_x_rank2", []int{7}, []int{7, 3}, []int{0}, nil, []int{0}, nil},
	{"rank2_x_rank1", []int{5, 7}, []int{7}, []int{1}, nil, []int{0}, nil},
	{"outer_product", []int{5}, []int{3}, nil, nil, nil, nil},
	{"batched_outer", []int{3, 2, 5}, []int{4, 2}, nil, []int{1}, nil, []int{1}},
	{"rank4_mixed", []int{3, 2, 4, 5}, []int{5, 4, 6, 2}, []int{2}, []int{3, 1}, []int{1}, []int{0, 3}},
	{"rank4_batch_and_two_contracting", []int{4, 3, 2, 5}, []int{5, 2, 6, 4}, []int{3, 0}, []int{2}, []int{0, 3}, []int{1}},
}
