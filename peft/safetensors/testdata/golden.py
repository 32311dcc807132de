# Regenerates goldenHex in safetensors_test.go, independently of the Go writer:
# python3 testdata/golden.py
# Hand-built safetensors bytes per the format spec: dtype-desc then name order.
import struct, json
meta = {"format": "pt"}
ents = [  # (name, dtype, shape, data) in reference layout order
 ("a", "I64", [2], struct.pack("<2q", 1, -1)),
 ("b", "F32", [2], struct.pack("<2f", 1.0, -2.0)),
 ("z", "BF16", [2], struct.pack("<2H", 0x3f80, 0xc040)),  # 1.0, -3.0
 ("h", "F16", [1], struct.pack("<H", 0x3c00)),  # 1.0
]
hdr = {"__metadata__": meta}
off = 0
for n, d, s, b in ents:
    hdr[n] = {"dtype": d, "shape": s, "data_offsets": [off, off + len(b)]}
    off += len(b)
h = json.dumps(hdr, separators=(",", ":")).encode()
h += b" " * ((8 - len(h) % 8) % 8)
out = struct.pack("<Q", len(h)) + h + b"".join(e[3] for e in ents)
print(out.hex())
