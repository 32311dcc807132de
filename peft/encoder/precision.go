package encoder

import (
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// MatmulDTypeParam is the context parameter that selects mixed precision:
// "bfloat16" runs the encoder's matrix products (projections, attention
// scores and values, adapters and heads built with LinearWith) on bfloat16
// operands, while variables (the master weights), LayerNorm, softmax, the
// loss and the optimizer stay float32. Unset or "float32": everything f32.
// bfloat16 has float32's exponent range, so no loss scaling is needed (fp16
// would need it).
const MatmulDTypeParam = "gopeft_matmul_dtype"

// MatmulDType is the operand dtype of the encoder's products in ctx.
func MatmulDType(ctx *context.Context) dtypes.DType {
	if context.GetParamOr(ctx, MatmulDTypeParam, "") == "bfloat16" {
		return dtypes.BFloat16
	}
	return dtypes.Float32
}

// mixed runs product on operands converted to ctx's matmul dtype and
// converts the result back to the operands' dtype, so everything around it
// (and its gradient) stays float32; XLA fuses the conversions into the
// neighbouring elementwise kernels.
func mixed(ctx *context.Context, product func(a, b *Node) *Node, a, b *Node) *Node {
	dt := MatmulDType(ctx)
	if dt == a.DType() {
		return product(a, b)
	}
	return ConvertDType(product(ConvertDType(a, dt), ConvertDType(b, dt)), a.DType())
}
