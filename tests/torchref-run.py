#!/usr/bin/python3
"""torchref-run.py TORCHREF COMMAND [ARG]... [+ COMMAND [ARG]...]... - run
several sub-commands of the float64 oracle TORCHREF
(../shared/tools/torchref.py) in one process, so that PyTorch is imported
once; "+" separates them.  For references the shared fixtures do not carry
(pooling and normalisation variants of contrastive-grad, forwards of cut
models).  Needs Debian's python3-torch and python3-numpy: run with
/usr/bin/python3."""
import importlib.util, sys

if len(sys.argv) < 3:
    sys.exit(__doc__)
spec = importlib.util.spec_from_file_location('torchref', sys.argv[1])
torchref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(torchref)
args, cmds = sys.argv[2:], [[]]
for a in args:
    if a == '+':
        cmds.append([])
    else:
        cmds[-1].append(a)
for c in cmds:
    sys.argv = [sys.argv[0]] + c
    torchref.main()
