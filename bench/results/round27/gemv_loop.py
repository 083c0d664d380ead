"""Round 27 probe (offline, Triton 3.6, no GPU): the GEMV (M = 1, BN4 BK512, with and without k_pairs)
compiled for sm_90a, its registers and the opcode mix of its main loop. Run from plugins/marlin/tools
with PYTHONPATH=. (and build/base/plugins/marlin ahead of it for 61cd38b); output: gemv_loop.txt."""
import subprocess, sys, tempfile
from pathlib import Path
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
import ptx_access as pa
import mxfp8_marlin
for pairs in (True, False):
    for tag, kernel, consts, warps in pa.variants(90):
        if not tag.startswith("gemv"): continue
        consts = dict(consts, PAIRS=pairs)
        sig = {name: "constexpr" if name in consts else pa.POINTERS.get(name, "i32") for name in kernel.arg_names}
        attrs = {(i,): [["tt.divisibility", 16]] for i, name in enumerate(sig) if name.endswith("_ptr") or name in ("K", "stride_xm", "stride_qt", "stride_d")}
        c = triton.compile(ASTSource(kernel, sig, consts, attrs), target=GPUTarget("cuda", 90, 32), options={"num_warps": warps})
        d = Path(tempfile.mkdtemp()); (d/"k.ptx").write_text(c.asm["ptx"])
        bin_dir = Path(triton.__file__).parent / "backends" / "nvidia" / "bin"
        r = subprocess.run([str(bin_dir/"ptxas"), "-arch=sm_90a", "-v", str(d/"k.ptx"), "-o", str(d/"k.cubin")], capture_output=True, text=True).stderr
        sass = subprocess.run([str(bin_dir/"cuobjdump"), "-sass", str(d/"k.cubin")], capture_output=True, text=True).stdout
        import collections
        from sass_check import parse
        code = parse(sass)
        ops = collections.Counter(v[0] for v in code.values())
        # the loop: the largest backward branch range
        best=None
        for a,(op,o,_) in code.items():
            if op.startswith("BRA") and o:
                t=int(o[-1],16)
                if t<a and (best is None or a-t>best[1]-best[0]): best=(t,a)
        loop = collections.Counter(code[a][0].split(".")[0] for a in code if best and best[0]<=a<=best[1])
        print(mxfp8_marlin.__file__.split("/")[3], "pairs", pairs, [l.split(":",1)[-1].strip() for l in r.splitlines() if "Used" in l], "loop", sum(loop.values()), {k:v for k,v in sorted(loop.items()) if k in ("LDG","LDS","FFMA","FMUL","FADD","IMAD","IADD3","LEA","HADD2","F2F","SHFL","STS","BAR")})
