"""TextWorld games as an :class:`~prmkit.envs.base.Environment` (optional extra ``textworld``).

`TextWorld <https://github.com/microsoft/TextWorld>`_ generates text adventure games offline from
a seed (rooms, objects, a quest of a given length), compiles them to Z-machine files with the
Inform 7 compiler shipped in its Linux wheel, and plays them through Jericho's Frotz interpreter.
Nobody here wrote the game dynamics: the observations are the game's own text.

- :class:`TextWorldEnv` (environment ``textworld``): ``make_task(seed)`` generates the game of
  ``(seed, world_size, nb_objects, quest_length)`` into a cache directory (``cache_dir``, default
  ``$PRMKIT_CACHE/textworld`` or ``~/.cache/prmkit/textworld``) or reuses it; the task's ``meta``
  holds the parameters, the game file and the walkthrough, so another process rebuilds the task
  (a missing game file is generated again from the seed). Actions are text commands; the reward
  is the score gained, ``info["success"]`` whether the game was won. A game that can no longer
  be won (e.g. a needed object eaten) ends the episode unsuccessful (``end_when_unwinnable``).
  ``snapshot``/``restore`` copy the interpreter's memory and TextWorld's state tracker, so
  :meth:`fork` does not replay; interpreters are pooled per game file (starting one costs
  ~0.15 s: Jericho loads a private copy of the Frotz library).
- :class:`WalkthroughNoisyAgent` (agent ``textworld-noisy``): plays the walkthrough from the
  current state (TextWorld re-plans it after every move, so detours are recovered from) and,
  with probability ``error_rate``, plays another admissible command instead, preferring
  harmful ones (eating, dropping or putting away an object the quest needs, closing what the
  quest opens, walking away). Some errors are unrecoverable; ``error_rate=0`` always wins.

Example (needs ``pip install 'prmkit[textworld]'``):

    >>> from prmkit.envs import make_env, make_agent                       # doctest: +SKIP
    >>> env = make_env("textworld", world_size=5, nb_objects=10, quest_length=4)  # doctest: +SKIP
    >>> task = env.make_task(3); obs = env.reset(task)                      # doctest: +SKIP
    >>> for cmd in task.meta["textworld"]["walkthrough"]: r = env.step(cmd)  # doctest: +SKIP
    >>> env.success                                                         # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import tempfile
import threading
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prmkit.envs.base import AGENTS, ENVIRONMENTS, INFO_SUCCESS, Agent, Environment, EnvStep
from prmkit.errors import PrmkitError
from prmkit.records import Problem
from prmkit.runs import derive_seed
from prmkit.trajectory import Action, ToolCall, Turn, action_text

#: the key of a task's ``meta`` this environment owns
META_KEY = "textworld"
#: the Frotz random seed (TextWorld games are deterministic, the seed pins the interpreter anyway)
FROTZ_SEED = 20240607
#: generator seeds tried per task seed before giving up (see TextWorldEnv.make_task)
MAX_ATTEMPTS = 10
INSTALL_HINT = (
    "TextWorld is not installed: pip install 'prmkit[textworld]' (or pip install textworld; Linux/macOS)"
)


def _textworld() -> Any:
    try:
        import textworld
    except ImportError as e:
        raise PrmkitError(f"{INSTALL_HINT} ({e})") from None
    return textworld


def textworld_available() -> bool:
    """Whether the ``textworld`` package imports."""
    try:
        _textworld()
    except PrmkitError:
        return False
    return True


def default_cache_dir() -> Path:
    """``$PRMKIT_CACHE/textworld`` (default ``~/.cache/prmkit/textworld``)."""
    root = Path(os.environ.get("PRMKIT_CACHE") or Path.home() / ".cache" / "prmkit")
    return root / "textworld"


# ---------------------------------------------------------------- generation


def game_key(seed: int, world_size: int, nb_objects: int, quest_length: int) -> str:
    """The cache name of a game: its parameters and the TextWorld version that generated it."""
    version = _textworld().__version__
    return f"tw{version}-r{world_size}-o{nb_objects}-q{quest_length}-s{seed}"


def generate_game(
    seed: int, world_size: int, nb_objects: int, quest_length: int, cache_dir: str | os.PathLike
) -> tuple[Path, Any]:
    """Generate (or reuse) the game of ``seed`` and parameters under ``cache_dir``.

    Returns ``(path of the .z8 file, textworld Game)``. The game is written to a temporary
    directory beside its final place and renamed there, so concurrent processes never see a
    half-written game (the first one to finish wins; the others' identical copies are removed).
    """
    textworld = _textworld()
    from textworld.generator import compile_game, make_game

    root = Path(cache_dir)
    final = root / game_key(seed, world_size, nb_objects, quest_length)
    z8, js = final / "game.z8", final / "game.json"
    if z8.is_file() and js.is_file():
        return z8, textworld.Game.load(str(js))
    root.mkdir(parents=True, exist_ok=True)
    opts = textworld.GameOptions()
    opts.seeds = int(seed)
    opts.nb_rooms = int(world_size)
    opts.nb_objects = int(nb_objects)
    opts.quest_length = int(quest_length)
    opts.force_recompile = True
    tmp = Path(tempfile.mkdtemp(prefix=final.name + ".tmp-", dir=root))
    try:
        opts.path = str(tmp / "game.z8")
        try:
            game = make_game(opts)
            compile_game(game, opts)
        except Exception as e:  # noqa: BLE001 - the generator raises many kinds; name the game
            raise PrmkitError(
                f"TextWorld could not generate game seed={seed} world_size={world_size} "
                f"nb_objects={nb_objects} quest_length={quest_length}: {type(e).__name__}: {e}"
            ) from None
        try:
            os.replace(tmp, final)
        except OSError:  # another process made it first (the target directory is not empty)
            if not (z8.is_file() and js.is_file()):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return z8, game


# ---------------------------------------------------------------- interpreters


_POOL: dict[str, list[Any]] = {}
_POOL_LOCK = threading.Lock()
#: idle interpreters kept per game file
POOL_PER_GAME = 8


def _request_infos() -> Any:
    textworld = _textworld()
    return textworld.EnvInfos(
        admissible_commands=True, policy_commands=True, won=True, lost=True, score=True, max_score=True,
        moves=True, feedback=True,
    )  # fmt: skip


def _acquire(path: str) -> Any:
    with _POOL_LOCK:
        idle = _POOL.get(path)
        if idle:
            return idle.pop()
    textworld = _textworld()
    with warnings.catch_warnings():
        # Jericho does not know TextWorld's games; TextWorld reads the score itself
        warnings.filterwarnings("ignore", message=".*is not fully supported.*")
        tw = textworld.start(path, request_infos=_request_infos())
    tw.unwrapped.seed(FROTZ_SEED)
    return tw


def _release(path: str, tw: Any) -> None:
    with _POOL_LOCK:
        idle = _POOL.setdefault(path, [])
        if len(idle) < POOL_PER_GAME:
            idle.append(tw)
            return
    tw.close()


def _layers(tw: Any) -> list[Any]:
    out = []
    while tw is not None:
        out.append(tw)
        tw = tw.__dict__.get("_wrapped_env")
    return out


#: attributes shared by reference between snapshots (the game, its compiler tables, the interpreter)
_SHARED = {"_wrapped_env", "_jericho", "_game", "_inform7", "_gamefile", "gamefile", "request_infos"}


def _copy_value(v: Any) -> Any:
    if isinstance(v, dict):
        return type(v)(v)  # GameState: shallow (its own copy() deep-copies the whole game, ~0.1 s)
    if isinstance(v, list):
        return list(v)
    if hasattr(v, "copy") and not isinstance(v, (str, bytes, tuple)):
        return v.copy()  # GameProgression (~0.5 ms)
    return v


class _Snapshot:
    """An immutable snapshot of a game in progress (``deepcopy`` returns it unchanged; restoring
    copies what it restores)."""

    def __init__(self, path: str, frotz: Any, layers: list[dict[str, Any]], env: dict[str, Any]) -> None:
        self.path, self.frotz, self.layers, self.env = path, frotz, layers, env

    def __deepcopy__(self, memo: dict[int, Any]) -> _Snapshot:
        return self


_BANNER_LINE = re.compile(r"^[\s_|\\/$<>]*$")
_PROMPT_LINE = re.compile(r"^\s*>.*$")


def clean_text(text: str, *, first: bool = False) -> str:
    """The game's text without the interpreter's prompt lines, the TextWorld banner (first
    observation) and runs of blank lines.

    Example:
        >>> clean_text("\\nYou take the key.\\n\\n\\n\\n>   -= Basement =-  \\n")
        'You take the key.'
    """
    lines = [ln.rstrip() for ln in text.replace("\r", "").split("\n")]
    lines = [ln for ln in lines if not _PROMPT_LINE.match(ln)]
    if first:
        lines = [ln for ln in lines if ln.strip() == "" or not _BANNER_LINE.match(ln)]
    out = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return out


@ENVIRONMENTS.register("textworld")
class TextWorldEnv(Environment):
    """TextWorld games (see the module doc).

    Options: ``world_size`` (rooms, 5), ``nb_objects`` (10), ``quest_length`` (4),
    ``cache_dir`` (where games are generated), ``max_turns`` (50), ``turn_slack`` (when set, an
    episode also ends, unsuccessful, after ``len(walkthrough) + turn_slack`` turns: wasted turns
    then cost the game), ``end_when_unwinnable`` (end an episode that can no longer be won,
    True), ``snapshots`` (fork by copying state instead of replaying, True).
    """

    default_agent = "textworld-noisy"

    def __init__(
        self,
        world_size: int = 5,
        nb_objects: int = 10,
        quest_length: int = 4,
        cache_dir: str | os.PathLike | None = None,
        max_turns: int = 50,
        end_when_unwinnable: bool = True,
        snapshots: bool = True,
        turn_slack: int | None = None,
        **options: Any,
    ) -> None:
        if options:
            raise PrmkitError(f"unknown textworld option(s): {sorted(options)}", field="env")
        for name, v, lo in (("world_size", world_size, 1), ("nb_objects", nb_objects, 0), ("quest_length", quest_length, 1), ("max_turns", max_turns, 1), ("turn_slack", 0 if turn_slack is None else turn_slack, 0)):  # fmt: skip
            if not isinstance(v, int) or v < lo:
                raise PrmkitError(f"{name} must be an integer >= {lo}, got {v!r}", field=name)
        _textworld()
        super().__init__(
            world_size=world_size, nb_objects=nb_objects, quest_length=quest_length, cache_dir=cache_dir,
            max_turns=max_turns, end_when_unwinnable=end_when_unwinnable, snapshots=snapshots,
            turn_slack=turn_slack,
        )  # fmt: skip
        self.params = {"world_size": world_size, "nb_objects": nb_objects, "quest_length": quest_length}
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.max_turns = max_turns
        self.end_when_unwinnable = end_when_unwinnable
        self.use_snapshots = snapshots
        self.turn_slack = turn_slack
        self._limit: int | None = None  # this task's turn limit from turn_slack
        self._tw: Any = None
        self._path: str | None = None
        self._release: Any = None
        self._state: Any = None  # the last GameState (admissible commands, policy, score)

    # ---- tasks
    def make_task(self, seed: int) -> Problem:
        """The task of ``seed``: the first game of ``seed`` and its derived seeds whose own
        walkthrough wins in the interpreter (a few generated games cannot be won as written:
        two objects whose names the parser cannot tell apart, "Which do you mean, the locker or
        the type 0 locker?"). ``meta.textworld.game_seed`` is the generator seed used."""
        for attempt in range(MAX_ATTEMPTS):
            game_seed = int(seed) if attempt == 0 else derive_seed(int(seed), "textworld", attempt)
            path, game = generate_game(game_seed, cache_dir=self.cache_dir, **self.params)
            walkthrough = list(game.metadata.get("walkthrough") or [])
            if walkthrough and self._walkthrough_wins(str(path), walkthrough):
                break
        else:
            raise PrmkitError(f"no winnable TextWorld game for seed {seed} in {MAX_ATTEMPTS} attempts")
        p = self.params
        return Problem(
            id=f"textworld-r{p['world_size']}-o{p['nb_objects']}-q{p['quest_length']}-{seed}",
            question=game.objective,
            reference_answer="success",
            meta={
                META_KEY: {
                    "seed": int(seed),
                    "game_seed": game_seed,
                    **self.params,
                    "game_file": str(path),
                    "walkthrough": walkthrough,
                    "max_score": int(game.max_score),
                    "version": _textworld().__version__,
                }
            },
        )

    def _walkthrough_wins(self, path: str, walkthrough: list[str]) -> bool:
        """Play the walkthrough once (the verdict is cached beside the game)."""
        mark = Path(path).with_name("walkthrough-wins.json")
        if mark.is_file():
            return bool(json.loads(mark.read_text())["wins"])
        tw = _acquire(path)
        try:
            state = tw.reset()
            for cmd in walkthrough:
                state, _, done = tw.step(cmd)
                if done:
                    break
            wins = bool(state.get("won"))
        finally:
            _release(path, tw)
        tmp = mark.with_name(f"{mark.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"wins": wins}))
        os.replace(tmp, mark)
        return wins

    def game_file(self, task: Problem) -> str:
        """The game file of ``task``, generated again from its seed when it is missing."""
        m = task.meta.get(META_KEY)
        if not isinstance(m, dict) or "seed" not in m:
            raise PrmkitError(
                f"task {task.id} is not a TextWorld task (no meta.{META_KEY}.seed)", field="meta"
            )
        path = m.get("game_file")
        if path and os.path.isfile(path) and os.path.isfile(os.path.splitext(path)[0] + ".json"):
            return str(path)
        params = {k: int(m.get(k, self.params[k])) for k in self.params}
        z8, _ = generate_game(int(m.get("game_seed", m["seed"])), cache_dir=self.cache_dir, **params)
        return str(z8)

    # ---- interpreter
    def _use(self, path: str) -> None:
        if self._path == path and self._tw is not None:
            return
        self._drop()
        tw = _acquire(path)
        self._tw, self._path = tw, path
        self._release = weakref.finalize(self, _release, path, tw)

    def _drop(self) -> None:
        if self._release is not None:
            self._release()  # returns the interpreter to the pool
        self._tw = self._path = self._release = None

    def close(self) -> None:
        self._drop()

    # ---- the interface
    def _reset(self, task: Problem) -> str:
        self._use(self.game_file(task))
        self._state = self._tw.reset()
        if self.turn_slack is not None:
            walkthrough = (task.meta.get(META_KEY) or {}).get("walkthrough") or []
            self._limit = len(walkthrough) + self.turn_slack
        return clean_text(self._state["feedback"], first=True)

    def _step(self, action: Action) -> EnvStep:
        if isinstance(action, ToolCall):
            return EnvStep(
                f"This game takes text commands (e.g. 'go north'), not tool calls: {action_text(action)}",
                0.0, False, {INFO_SUCCESS: False, "invalid": True},
            )  # fmt: skip
        before = self._state.get("score") or 0
        self._state, score, _ = self._tw.step(str(action))
        st = self._state
        won, lost = bool(st.get("won")), bool(st.get("lost"))
        unwinnable = not won and st.get("_winning_policy") is None
        done = won or lost or (unwinnable and self.end_when_unwinnable)
        info: dict[str, Any] = {
            INFO_SUCCESS: won,
            "score": score,
            "max_score": st.get("max_score"),
            "lost": lost,
        }
        if unwinnable:
            info["unwinnable"] = True
        if not done and self._limit is not None and len(self.actions) >= self._limit:
            done = True
            info["truncated"] = True
        return EnvStep(clean_text(st["feedback"]), float((score or 0) - before), done, info)

    @property
    def admissible_commands(self) -> list[str]:
        """The commands the game understands in the current state (sorted)."""
        return list(self._state.get("admissible_commands") or []) if self._state is not None else []

    @property
    def policy_commands(self) -> list[str]:
        """The walkthrough from the current state (TextWorld re-plans it after every move); empty
        when the game is won or can no longer be won."""
        return list(self._state.get("policy_commands") or []) if self._state is not None else []

    # ---- snapshots
    def snapshot(self) -> Any:
        if not self.use_snapshots or self._tw is None or self.task is None:
            return None
        frotz = self._tw.unwrapped._jericho.get_state()
        layers = [
            {k: _copy_value(v) for k, v in vars(w).items() if k not in _SHARED} for w in _layers(self._tw)
        ]
        env = {"task": self.task, "actions": list(self.actions), "last": self.last, "state": _copy_value(self._state),
               "limit": self._limit}  # fmt: skip
        return _Snapshot(self._path or "", frotz, layers, env)

    def restore(self, snap: Any) -> None:
        if not isinstance(snap, _Snapshot):
            raise PrmkitError("not a TextWorld snapshot")
        self._use(snap.path)
        for w, d in zip(_layers(self._tw), snap.layers, strict=True):
            for k, v in d.items():
                setattr(w, k, _copy_value(v))
        self._tw.unwrapped._jericho.set_state(snap.frotz)
        self.task = snap.env["task"]
        self.actions = list(snap.env["actions"])
        self.last = snap.env["last"]
        self._state = _copy_value(snap.env["state"])
        self._limit = snap.env["limit"]


# ---------------------------------------------------------------- the scripted noisy agent

_HARMFUL_VERBS = ("eat", "drop", "put", "insert", "close", "lock")


def _harmful(cmd: str, needed: set[str]) -> bool:
    words = cmd.split()
    if not words:
        return False
    if words[0] == "go":
        return True
    return words[0] in _HARMFUL_VERBS and any(n in cmd for n in needed)


def _objects_of(walkthrough: Sequence[str]) -> set[str]:
    """Object names the walkthrough handles (the words after the verb, split at prepositions)."""
    out: set[str] = set()
    for cmd in walkthrough:
        words = cmd.split()
        if not words or words[0] == "go":
            continue
        for part in re.split(r"\b(?:from|into|in|on|with)\b", " ".join(words[1:])):
            part = part.strip()
            if part:
                out.add(part)
    return out


@AGENTS.register("textworld-noisy")
class WalkthroughNoisyAgent(Agent):
    """Follows the walkthrough from the current state; errs with probability ``error_rate``
    (see the module doc). ``harmful_weight``: how much likelier a harmful error is than a
    harmless one (examine, look, an unrelated object).

    The agent keeps its own copy of the game (a pooled interpreter, moved along the turns it is
    shown and restored from cached snapshots), so it needs nothing but the task and the turns.
    """

    def __init__(
        self, error_rate: float = 0.2, harmful_weight: float = 4.0, cache_dir: str | None = None
    ) -> None:
        if not 0.0 <= float(error_rate) <= 1.0:
            raise PrmkitError(f"error_rate must be in [0, 1], got {error_rate}", field="error_rate")
        self.error_rate = float(error_rate)
        self.harmful_weight = float(harmful_weight)
        self.cache_dir = cache_dir
        self._env: TextWorldEnv | None = None
        self._snaps: OrderedDict[tuple[Any, ...], Any] = OrderedDict()

    def _shadow(self, task: Problem, turns: Sequence[Turn]) -> TextWorldEnv:
        if self._env is None:
            self._env = TextWorldEnv(cache_dir=self.cache_dir)
        env = self._env
        actions = [t.action for t in turns]
        key = (task.id, *map(action_text, actions))
        here = (env.task.id, *map(action_text, env.actions)) if env.task is not None else None
        if here == key:
            return env
        if here is not None and len(here) < len(key) and key[: len(here)] == here and not env.done:
            start = len(here) - 1
        else:
            # the longest cached prefix
            start = 0
            for k in range(len(key), 0, -1):
                snap = self._snaps.get(key[:k])
                if snap is not None:
                    env.restore(snap)
                    self._snaps.move_to_end(key[:k])
                    start = k - 1
                    break
            else:
                env.reset(task)
                self._remember(env, key[:1])
        for a in actions[start:]:
            if env.done:
                break
            env.step(a)
            self._remember(env, (task.id, *map(action_text, env.actions)))
        return env

    def _remember(self, env: TextWorldEnv, key: tuple[Any, ...]) -> None:
        snap = env.snapshot()
        if snap is None:
            return
        self._snaps[key] = snap
        self._snaps.move_to_end(key)
        while len(self._snaps) > 512:
            self._snaps.popitem(last=False)

    def act(
        self, task: Problem, turns: Sequence[Turn], observation: str, n: int, *, seed: int = 0
    ) -> list[Turn]:
        env = self._shadow(task, turns)
        policy = env.policy_commands
        admissible = env.admissible_commands
        walkthrough = (task.meta.get(META_KEY) or {}).get("walkthrough") or []
        needed = _objects_of(list(walkthrough) + policy)
        out = []
        for i in range(n):
            rng = random.Random(derive_seed(seed, "textworld-noisy", i))
            right = policy[0] if policy else None
            others = [c for c in admissible if c != right]
            if right is None or (others and rng.random() < self.error_rate):
                pool = others or admissible or ["look"]
                weights = [self.harmful_weight if _harmful(c, needed) else 1.0 for c in pool]
                cmd = rng.choices(pool, weights=weights)[0]
                meta = {"error": True}
            else:
                cmd, meta = right, {"error": False}
            out.append(Turn(action=cmd, meta=meta))
        return out

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
        self._env = None
        self._snaps.clear()
