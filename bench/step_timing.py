"""Shared by torch_step.py and jax_step.py: time a training step the way step_bench does (a warm-up
that also sizes the timed run, then at least 20 steps) and print the result line step.sh reads."""
import resource


def time_and_report(run, seconds, warm_steps, label, model, threads, batch):
    """run(n) performs n steps and returns the seconds they took (waiting for the last to finish)."""
    warm = run(warm_steps) / warm_steps  # first-call allocations, thread pools, compilation
    steps = max(20, int(seconds / warm))
    per_step = run(steps) / steps
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{label} {model} threads={threads} batch={batch} us_per_step={per_step * 1e6:.1f} rss_mb={rss_mb:.1f}")
