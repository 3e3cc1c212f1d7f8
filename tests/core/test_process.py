"""core.process: the server process's collector walks each long-lived object once, and
still collects the cycles that die among them at each reclaim.

Each test runs in a process of its own: freezing is process-wide, the test run's own
objects stay out of it."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, **env: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_importing_the_asgi_application_freezes_start_up_and_installs_the_policy_once():
    out = _run(
        """
        import gc
        before = gc.get_freeze_count()
        import asgi
        from core import process
        installed = process._installed
        policy = process.tune_collector()  # a second call: the same policy
        print(before, gc.get_freeze_count(), len(gc.get_objects()),
              installed is not None and policy is installed,
              gc.callbacks.count(policy._on_collection))
        """,
        # As a server runs (the test run itself turns the policy off: pyproject.toml).
        SERVER_GC_FREEZE_SURVIVORS="1",
    )
    before, frozen, tracked, same, installed = out.split()
    # Django, DRF, Channels and the apps: far more frozen than left for the collector.
    assert int(frozen) - int(before) > 50_000
    assert int(tracked) < int(frozen)
    assert (same, installed) == ("True", "1")


_POLICY = """
    import gc, weakref
    from core.process import CollectorPolicy

    now = [0.0]
    gc.collect(); gc.freeze()
    policy = CollectorPolicy(reclaim_seconds=600, reclaim_growth=100, clock=lambda: now[0])
    policy.install()

    class Node:
        pass

    def cycle():
        a, b = Node(), Node()
        a.other, b.other = b, a
        return a
"""


def test_what_survives_a_full_pass_is_frozen_and_not_walked_again():
    out = _run(
        _POLICY
        + """
    frozen = gc.get_freeze_count()
    kept = [[n] for n in range(20_000)]
    gc.collect()
    print(gc.get_freeze_count() - frozen, len(gc.get_objects(2)), policy.full_passes)
    """
    )
    newly_frozen, left_to_walk, passes = (int(x) for x in out.split())
    assert newly_frozen >= 20_000  # the lists, and what else the pass left alive
    assert left_to_walk < 1_000  # the next full pass walks what is new since, not them
    assert passes == 1


def test_a_cycle_that_dies_while_frozen_is_collected_at_the_reclaim_not_before():
    out = _run(
        _POLICY
        + """
    holder = [cycle()]
    ref = weakref.ref(holder[0])
    gc.collect()                      # survives a full pass: frozen alive
    holder.clear()                    # from here on only its own cycle holds it
    gc.collect()
    alive_while_frozen = ref() is not None
    now[0] = 601.0                    # the reclaim is due
    gc.collect()                      # this pass hands the frozen objects back ...
    handed_back = gc.get_freeze_count()
    gc.collect()                      # ... and this one walks them: the cycle goes
    print(alive_while_frozen, handed_back, ref() is None, policy.reclaims,
          gc.get_freeze_count() > 0)
    """
    )
    alive_while_frozen, handed_back, collected, reclaims, refrozen = out.split()
    assert alive_while_frozen == "True"
    assert handed_back == "0"
    assert collected == "True"
    assert reclaims == "1"
    assert refrozen == "True"  # the survivors of the reclaim are frozen again


def test_full_passes_do_not_walk_the_frozen_objects_to_count_them():
    """Counting the frozen objects walks all of them; after every full pass (frequent once
    the old generation is kept small) that was 14 % of a live server's time. The policy
    keeps a bound instead and counts only when the growth may have been reached."""
    out = _run(
        _POLICY
        + """
    walks = []
    count = gc.get_freeze_count
    gc.get_freeze_count = lambda: walks.append(1) or count()
    for _ in range(20):
        kept = [[n] for n in range(100)]
        gc.collect()
    print(policy.full_passes, len(walks), policy.reclaims)
    """
    )
    assert out.split() == ["20", "0", "0"]


def test_a_reclaim_comes_early_once_the_frozen_objects_have_grown_past_the_factor():
    out = _run(
        """
    import gc, weakref
    from core.process import CollectorPolicy

    class Node:
        pass

    gc.collect(); gc.freeze()
    policy = CollectorPolicy(reclaim_seconds=10**9, reclaim_growth=2, clock=lambda: 0.0)
    policy.install()
    a, b = Node(), Node()
    a.other, b.other = b, a
    ref = weakref.ref(a)
    gc.freeze()                       # frozen alive ...
    del a, b                          # ... then dead: only a reclaim collects it
    grown = [[n] for n in range(3 * gc.get_freeze_count())]
    gc.collect()                      # survivors frozen: more than doubled, hand back
    gc.collect()                      # the reclaim pass
    print(ref() is None, policy.reclaims)
    """
    )
    assert out.split() == ["True", "1"]


def test_with_the_policy_off_only_start_up_is_frozen():
    out = _run(
        """
    import gc
    from core import process
    policy = process.tune_collector(freeze_survivors=False)
    frozen = gc.get_freeze_count()
    kept = [[n] for n in range(20_000)]
    gc.collect()
    print(policy is None, frozen > 0, gc.get_freeze_count() == frozen,
          len(gc.get_objects(2)) >= 20_000)
    """
    )
    assert out.split() == ["True", "True", "True", "True"]


def test_the_policy_refuses_settings_that_would_reclaim_never_or_always():
    out = _run(
        """
    from core.process import CollectorPolicy
    for kwargs in ({"reclaim_seconds": 0}, {"reclaim_growth": 1}):
        try:
            CollectorPolicy(**kwargs)
        except ValueError:
            print("refused")
    """
    )
    assert out.split() == ["refused", "refused"]
