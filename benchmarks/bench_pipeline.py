"""B11: per-step orchestration overhead under kfp.local.

anchor: default lightweight components (the runner pip-installs kfp at every step start);
ours:   the platform's components (`install_kfp_package=False`, kfp already in the image).
Both run the same 4-step chain of trivial steps in the same process, best of N.
Prints: `pipeline_overhead ours=<s/step> anchor=<s/step> ratio=<anchor/ours>`.
"""

import argparse
import tempfile
import time
import warnings

from kfp import dsl, local

STEPS = 4


def add(a: int, b: int) -> int:
    return a + b


def chain(component):
    @dsl.pipeline(name="overhead")
    def pipe(x: int = 1) -> int:
        t = component(a=x, b=1)
        for _ in range(STEPS - 1):
            t = component(a=t.output, b=1)
        return t.output

    return pipe


def seconds_per_step(component, root: str) -> float:
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=root, raise_on_error=True)
    start = time.perf_counter()
    result = chain(component)()
    assert result.output == 1 + STEPS
    return (time.perf_counter() - start) / STEPS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    anchor_c = dsl.component(base_image="python:3.11")(add)
    ours_c = dsl.component(base_image="python:3.11", install_kfp_package=False)(add)
    anchor, ours = [], []
    with tempfile.TemporaryDirectory() as root:
        for _ in range(args.repeats):  # interleaved
            anchor.append(seconds_per_step(anchor_c, root))
            ours.append(seconds_per_step(ours_c, root))
    a, o = min(anchor), min(ours)
    print(f"pipeline_overhead ours={o:.3f}s/step anchor={a:.3f}s/step ratio={a / o:.1f}x target>=4x")


if __name__ == "__main__":
    main()
