#!/usr/bin/python3
"""torchref-grads.py TORCHREF OUTDIR FIXTURE_DIR... - float64 InfoNCE
references for the pooling and normalisation variants the shared fixtures
do not carry (their ref-contrastive-grad is last-token, L2-normalised).

For each FIXTURE_DIR, with its ref-batch.json, writes
OUTDIR/NAME-mean.safetensors (mean pooling, normalised, temperature 0.05),
OUTDIR/NAME-last-raw.safetensors (last token, not normalised, temperature
1: raw dot products) and OUTDIR/NAME-mean-raw.safetensors (mean pooling,
not normalised, temperature 1), through
TORCHREF's own contrastive-grad (../shared/tools/torchref.py), in one
process so that PyTorch is imported once.  Needs Debian's python3-torch
and python3-numpy: run with /usr/bin/python3."""
import argparse, importlib.util, os, sys

if len(sys.argv) < 4:
    sys.exit(__doc__)
spec = importlib.util.spec_from_file_location('torchref', sys.argv[1])
torchref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(torchref)
out = sys.argv[2]
for fx in sys.argv[3:]:
    name = os.path.basename(os.path.normpath(fx))
    for tag, pool, normalize, tau in (('mean', 'mean', True, 0.05), ('last-raw', 'last', False, 1.0),
                                      ('mean-raw', 'mean', False, 1.0)):
        torchref.cmd_contrastive_grad(argparse.Namespace(
            model=fx, batch=os.path.join(fx, 'ref-batch.json'), tau=tau, pool=pool,
            normalize=normalize, out=os.path.join(out, '%s-%s.safetensors' % (name, tag))))
