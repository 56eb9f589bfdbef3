"""`python -m seqlab ...` is the `seqlab` command (torchrun uses this form)."""

from seqlab.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
