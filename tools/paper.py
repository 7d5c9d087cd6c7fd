"""Tools of the verbal-RL orchestration environment of Curuksu's paper (3.3, Appendix C).

Six small, self-contained tools for a LangChain ReAct agent: create vs. analyze an image,
compute an expression with a calculator vs. execute code in a Python interpreter, and retrieve
one of two related Anthropic papers (RLHF vs. RLAIF). Each tool takes ``str`` arguments and
returns a short ``str``; bad input never raises, it yields a string starting with ``"error: "``.

Only the standard library, Pillow and ``reflexrl.safety.sandbox`` (bubblewrap, for
``python_interpreter``) are used. This file is loaded by path (``tools`` is not a
package), e.g. from ``evals/suites/paper.yaml`` as ``../../tools/paper.py:calculator``.
"""

import ast
import hashlib
import math
import operator
import os
import re
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageStat, UnidentifiedImageError

from reflexrl.safety.sandbox import (
    SandboxLimits,
    SandboxResult,
    SandboxUnavailableError,
    run_python,
)

# --------------------------------------------------------------------------------------------
# create_image / analyze_image
# --------------------------------------------------------------------------------------------

IMAGE_SIZE = 256
_TEXT_WRAP_CHARS = 36
_TEXT_MAX_LINES = 5
_LINE_HEIGHT = 14

RGB = tuple[int, int, int]


def image_dir() -> Path:
    """Directory where ``create_image`` writes its PNG files (created on demand)."""
    base = os.environ.get("REFLEXRL_OUTPUT_DIR") or tempfile.gettempdir()
    return Path(base) / "reflexrl-images"


def _clip(text: str, limit: int = 80) -> str:
    """Collapse whitespace and truncate ``text`` to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _palette(digest: bytes) -> list[RGB]:
    """Take six colours deterministically from a sha256 digest."""
    return [(digest[i], digest[i + 1], digest[i + 2]) for i in range(0, 18, 3)]


def _draw_background(draw: ImageDraw.ImageDraw, top: RGB, bottom: RGB) -> None:
    """Paint a vertical gradient from ``top`` to ``bottom``."""
    for y in range(IMAGE_SIZE):
        t = y / (IMAGE_SIZE - 1)
        colour = tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        draw.line([(0, y), (IMAGE_SIZE - 1, y)], fill=colour)


def _draw_shapes(draw: ImageDraw.ImageDraw, digest: bytes, colours: list[RGB]) -> None:
    """Draw a few ellipses, rectangles and triangles placed from the digest bytes."""
    for i in range(4):
        x, y = digest[18 + 2 * i] % 200, digest[19 + 2 * i] % 130
        size = 30 + digest[26 + i] % 40
        box = (x, y, x + size, y + size)
        colour = colours[2 + i % 4]
        kind = digest[30 + i % 2] + i
        if kind % 3 == 0:
            draw.ellipse(box, fill=colour, outline=(0, 0, 0))
        elif kind % 3 == 1:
            draw.rectangle(box, fill=colour, outline=(0, 0, 0))
        else:
            points = [(x + size // 2, y), (x + size, y + size), (x, y + size)]
            draw.polygon(points, fill=colour, outline=(0, 0, 0))


def _draw_caption(draw: ImageDraw.ImageDraw, description: str) -> None:
    """Write the wrapped description on a light band at the bottom of the image."""
    safe = description.encode("latin-1", "replace").decode("latin-1")
    lines = textwrap.wrap(safe, _TEXT_WRAP_CHARS, max_lines=_TEXT_MAX_LINES, placeholder=" ...")
    top = IMAGE_SIZE - 10 - _LINE_HEIGHT * len(lines)
    draw.rectangle((4, top - 4, IMAGE_SIZE - 5, IMAGE_SIZE - 5), fill=(245, 245, 240))
    font = ImageFont.load_default()
    for n, line in enumerate(lines):
        draw.text((10, top + n * _LINE_HEIGHT), line, fill=(20, 20, 20), font=font)


def _render(description: str, digest: bytes) -> Image.Image:
    """Draw the whole picture for ``description``."""
    colours = _palette(digest)
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE))
    draw = ImageDraw.Draw(image)
    _draw_background(draw, colours[0], colours[1])
    _draw_shapes(draw, digest, colours)
    _draw_caption(draw, description)
    return image


def create_image(description: str) -> str:
    """Create (draw) a new image from a text description and save it as a PNG file.

    The picture is a simple deterministic drawing (colours and shapes derived from the
    description, plus the description as a caption), not a photorealistic rendering.

    Args:
        description: What the new image should show, e.g. "several dogs running on a beach".

    Returns:
        The path of the created PNG file, or a message starting with "error:".
    """
    text = " ".join(str(description).split())
    if not text:
        return "error: empty description; describe the image to create"
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    path = image_dir() / f"image-{digest.hex()[:16]}.png"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _render(text, digest).save(path, format="PNG")
    except OSError as exc:
        return f"error: could not save the image: {exc}"
    return f"created image {path} ({IMAGE_SIZE}x{IMAGE_SIZE} PNG) for: {_clip(text)}"


def _common_colours(image: Image.Image, count: int = 3) -> str:
    """List the ``count`` most common colours, each channel quantized to 8 levels."""
    small = image.convert("RGB").resize((64, 64))
    quantized = small.point(lambda v: (v // 32) * 32 + 16)
    colours = sorted(quantized.getcolors(maxcolors=64 * 64) or [], reverse=True)[:count]
    total = 64 * 64
    parts = []
    for n, colour in colours:
        r, g, b = colour if isinstance(colour, tuple) else (colour, colour, colour)
        parts.append(f"#{r:02x}{g:02x}{b:02x} ({100 * n / total:.0f}%)")
    return ", ".join(parts)


def _describe(image: Image.Image, path: Path) -> str:
    """Summarize the facts about an opened image."""
    mean = ImageStat.Stat(image.convert("RGB")).mean
    r, g, b = (round(v) for v in mean[:3])
    return (
        f"image {path}: {image.width}x{image.height} pixels, mode {image.mode}, "
        f"format {image.format or 'unknown'}; mean RGB ({r}, {g}, {b}); "
        f"most common colours (quantized): {_common_colours(image)}"
    )


def analyze_image(image_path: str, question: str = "") -> str:
    """Analyze an existing image file and report basic facts about it.

    Reports width, height, colour mode, mean RGB colour and the three most common colours.
    Counting or recognising objects is not available in this small analyzer.

    Args:
        image_path: Path of the image file to analyze.
        question: Optional question about the image (echoed in the answer).

    Returns:
        A one-paragraph description of the image, or a message starting with "error:".
    """
    raw = str(image_path).strip().strip("'\"` ")
    error = f"error: no readable image at '{_clip(raw, 300)}'; pass the path of an image file"
    path = Path(raw).expanduser()
    if not raw or not path.is_file():
        return error
    try:
        with Image.open(path) as image:
            facts = _describe(image, path)
    except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError):
        return error
    asked = f"question: {_clip(question)}; " if question.strip() else ""
    note = "note: object counting is not available in this small analyzer"
    return f"{facts}; {asked}{note}"


# --------------------------------------------------------------------------------------------
# calculator
# --------------------------------------------------------------------------------------------

Number = int | float

MAX_EXPRESSION_CHARS = 500
MAX_EXPONENT = 100
MAX_POWER_BASE = 10**6
_MAX_INT = 10**1000

_WORD_OPERATORS = (
    (r"\bmultiplied\s+by\b", "*"),
    (r"\bdivided\s+by\b", "/"),
    (r"\bto\s+the\s+power\s+of\b", "**"),
    (r"\bplus\b", "+"),
    (r"\bminus\b", "-"),
    (r"\btimes\b", "*"),
    (r"\^", "**"),
    ("\u00d7", "*"),  # multiplication sign
    ("\u00f7", "/"),  # division sign
)
_WORD = re.compile(r"(?<![\w.])[A-Za-z_]\w*")
# A word right after one of these, or right before one of these, is an operand: keep it.
_OPERAND_BEFORE = frozenset("+-*/%(.")
_OPERAND_AFTER = frozenset("+-*/%().")


class CalculatorError(ValueError):
    """An expression the calculator refuses to evaluate."""


def _power(base: Number, exponent: Number) -> Number:
    """Compute ``base ** exponent`` with caps that keep the result small."""
    if abs(exponent) > MAX_EXPONENT or abs(base) > MAX_POWER_BASE:
        raise CalculatorError(
            f"power too large (limits: |exponent| <= {MAX_EXPONENT}, |base| <= {MAX_POWER_BASE})"
        )
    result = base**exponent
    if isinstance(result, complex):
        raise CalculatorError("result is not a real number")
    return result


_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: _power,
}
_UNARY: dict[type[ast.unaryop], Callable[[Number], Number]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}


def _checked(value: Number) -> Number:
    """Refuse huge integers and non-finite floats."""
    if isinstance(value, int) and abs(value) > _MAX_INT:
        raise CalculatorError("result too large")
    if isinstance(value, float) and not math.isfinite(value):
        raise CalculatorError("result is not finite")
    return value


def _evaluate(node: ast.AST) -> Number:
    """Evaluate an arithmetic syntax tree, refusing everything that is not arithmetic."""
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, int | float) and not isinstance(node.value, bool):
            return _checked(node.value)
        raise CalculatorError(f"unsupported constant {node.value!r}")
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        return _checked(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _checked(_UNARY[type(node.op)](_evaluate(node.operand)))
    if isinstance(node, ast.Name):
        raise CalculatorError(f"unknown name '{node.id}'; only numbers and arithmetic operators")
    raise CalculatorError(f"unsupported element '{type(node).__name__}'; only arithmetic")


def _normalize(expression: str) -> str:
    """Turn operator words into symbols, drop a leading phrase ending in a colon."""
    text = expression.split(":", 1)[1] if ":" in expression else expression
    for pattern, symbol in _WORD_OPERATORS:
        text = re.sub(pattern, f" {symbol} ", text, flags=re.IGNORECASE)
    return text.strip().rstrip(".?!= ")


def _drop_words(text: str) -> str | None:
    """Remove words around the arithmetic ("what is 5 + 5" -> "5 + 5").

    Returns None when there is nothing to drop or when a word may be an operand or a function
    ("x + 1", "sqrt (4)", quoted strings): those must not silently disappear.
    """
    if "'" in text or '"' in text:
        return None
    words = list(_WORD.finditer(text))
    for word in words:
        before = text[: word.start()].rstrip()[-1:]
        after = text[word.end() :].lstrip()[:1]
        if (before and before in _OPERAND_BEFORE) or (after and after in _OPERAND_AFTER):
            return None
    stripped = _WORD.sub(" ", text).strip().strip(",;:").rstrip(".?!= ").strip()
    return stripped if words and stripped else None


def _compute(text: str) -> Number:
    """Evaluate ``text``; if that fails, retry once with the surrounding words dropped."""
    try:
        return _evaluate(ast.parse(text, mode="eval"))
    except (SyntaxError, CalculatorError) as first:
        stripped = _drop_words(text)
        if stripped is None:
            raise
        try:
            return _evaluate(ast.parse(stripped, mode="eval"))
        except (SyntaxError, CalculatorError):
            raise first from None


def _format(value: Number) -> str:
    """Format integers without '.0' and other floats with 12 significant digits."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.12g}"
    return str(value)


def calculator(expression: str) -> str:
    """Compute the value of an arithmetic expression.

    Supports numbers, + - * / // % ** (small powers only), unary signs and parentheses, and the
    words "plus", "minus", "times", "multiplied by" and "divided by".

    Args:
        expression: The expression, e.g. "5 + 5 + 10" or "5 plus 5 plus 10".

    Returns:
        The result (integers without ".0"), or a message starting with "error:".
    """
    text = str(expression)
    if len(text) > MAX_EXPRESSION_CHARS:
        return f"error: expression longer than {MAX_EXPRESSION_CHARS} characters"
    try:
        return _format(_compute(_normalize(text)))
    except SyntaxError:
        return "error: not an arithmetic expression; use numbers with + - * / ** and parentheses"
    except ZeroDivisionError:
        return "error: division by zero"
    except (CalculatorError, OverflowError, ValueError, RecursionError, MemoryError) as exc:
        return f"error: {exc}"


# --------------------------------------------------------------------------------------------
# python_interpreter
# --------------------------------------------------------------------------------------------

LIMITS = SandboxLimits()
"""5 s wall clock, 3 s CPU, 512 MiB address space, 1 MiB files, 64 open files, 16 processes,
64 KiB of output read (see `reflexrl.safety.sandbox.SandboxLimits`)."""
MAX_OUTPUT_CHARS = 2000
MAX_STDERR_CHARS = 1000

_FENCE = re.compile(r"^\s*```[\w+-]*\s*\n(.*?)\n?\s*```\s*$", re.DOTALL)


def _as_program(code: str) -> str:
    """Strip a Markdown code fence; print the value of a lone expression."""
    match = _FENCE.match(code)
    source = (match.group(1) if match else code).strip("\n")
    if "print" in source:
        return source
    try:
        ast.parse(source.strip(), mode="eval")
    except SyntaxError:
        return source
    return f"print(\n{source.strip()}\n)"


def _status(result: SandboxResult) -> str:
    """Say why the run failed, or "" when it exited normally."""
    code = result.returncode
    if result.timed_out:
        return f"error: timed out after {LIMITS.timeout_s:g} s"
    if result.output_limited:
        return f"error: output limit of {LIMITS.output_bytes} bytes exceeded"
    if code is None or code == 0:
        return ""
    return _signal_status(-code) if code < 0 else f"error: exit code {code}"


def _signal_status(signal_number: int) -> str:
    """Say what a death by ``signal_number`` means under the sandbox's limits."""
    if signal_number == 24:  # SIGXCPU
        return f"error: CPU time limit of {LIMITS.cpu_s} s exceeded"
    if signal_number == 25:  # SIGXFSZ
        return f"error: file size limit of {LIMITS.file_size_bytes} bytes exceeded"
    if signal_number == 9:  # SIGKILL: the hard CPU limit or the kernel
        return "error: killed (a resource limit was exceeded)"
    return f"error: killed by signal {signal_number}"


def _report(result: SandboxResult) -> str:
    """Combine stdout and, on failure, the reason and the tail of stderr."""
    out = result.stdout[:MAX_OUTPUT_CHARS]
    if len(result.stdout) > MAX_OUTPUT_CHARS or (result.output_limited and out):
        out += "\n... (output truncated)"
    status = _status(result)
    if not status:
        return out if out.strip() else "(no output)"
    parts = [out.rstrip(), status, result.stderr[-MAX_STDERR_CHARS:].rstrip()]
    return "\n".join(part for part in parts if part)


def python_interpreter(code: str) -> str:
    """Execute Python code in a sandbox and return what it prints.

    The code runs with the standard library only, in an empty private working directory,
    without network access or access to the host's files, and with limits on time, memory,
    file size, processes and output. Use print() to show results.

    Args:
        code: Python source code to execute.

    Returns:
        The program's standard output (plus the error output if it failed), "(no output)",
        or a message starting with "error:".
    """
    program = _as_program(str(code))
    if not program.strip():
        return "error: no code given; pass Python source code"
    try:
        result = run_python(program, LIMITS)
    except SandboxUnavailableError as exc:
        return (
            "error: python_interpreter is disabled here: the sandbox could not be set up "
            f"({exc}); the code was not run"
        )
    except (OSError, ValueError) as exc:
        return f"error: could not run the code: {exc}"
    return _report(result)


# --------------------------------------------------------------------------------------------
# retrieve_rlhf_paper / retrieve_rlaif_paper
# --------------------------------------------------------------------------------------------

RLHF_SUMMARY = (
    "Training a Helpful and Harmless Assistant with Reinforcement Learning from Human Feedback "
    "(Bai et al., 2022, Anthropic; arXiv:2204.05862). "
    "Crowdworkers chatted with language-model assistants and, at each turn, picked the better "
    "of two candidate replies, producing separate comparison datasets for helpfulness and for "
    "harmlessness; the harmlessness data came from red-teaming, where workers deliberately tried "
    "to provoke harmful answers. "
    "Preference models trained on these comparisons give each reply a scalar score, and the "
    "assistant is then fine-tuned with PPO to maximise that score, i.e. reinforcement learning "
    "from human feedback (RLHF). "
    "The two goals partly conflict: optimising harmlessness alone makes a model evasive, and "
    "mixing both kinds of data trades one against the other, a tension that eases as models grow. "
    "For large models RLHF improved most standard NLP evaluations, whereas small models paid a "
    "performance cost, and it combined well with specialised skills such as coding. "
    "The authors also trained iteratively online, collecting fresh comparisons against the newest "
    "policies and retraining preference models and policies on a roughly weekly cycle. "
    "Robustness studies showed that preference scores grow less reliable for highly rewarded "
    "outputs and that larger preference models are harder for the policy to exploit. "
    "The preference models were found to be well calibrated, and RL reward rose roughly linearly "
    "with the square root of the KL divergence between the policy and its initial model. "
    "The comparison data, including the red-teaming conversations, was released publicly."
)

RLAIF_SUMMARY = (
    "Constitutional AI: Harmlessness from AI Feedback "
    "(Bai et al., 2022, Anthropic; arXiv:2212.08073). "
    "The paper trains a harmless assistant without human labels of harmfulness: the only human "
    "input on harm is a short list of natural-language principles, called a constitution. "
    "In a supervised stage, a helpful-only model answers red-teaming prompts, critiques its own "
    "answer against a randomly drawn principle and rewrites it, possibly over several rounds, and "
    "is then fine-tuned on the revised answers. "
    "In a reinforcement learning stage, the model generates pairs of answers and a feedback model "
    "chooses the better one according to a principle; these AI preference labels (mixed with human "
    "helpfulness labels) train a preference model that serves as the reward for RL, which is "
    "called RL from AI feedback (RLAIF). "
    "Letting the feedback model reason step by step (chain of thought) before choosing made its "
    "judgements more accurate and easier to inspect. "
    "The resulting assistant is harmless without being evasive: it engages with harmful requests "
    "and explains its objections instead of refusing flatly. "
    "Because AI labels replace most human labelling, the approach scales supervision to more data "
    "and larger models while keeping the governing rules explicit and easy to change."
)


def retrieve_rlhf_paper(query: str) -> str:
    """Retrieve a summary of Anthropic's RLHF paper (helpful and harmless assistant, 2022).

    The paper trains an assistant with reinforcement learning from human feedback (human
    preference comparisons, preference models, PPO).

    Args:
        query: What the user wants to know about the paper (the same summary is returned).

    Returns:
        A short summary of Bai et al., 2022 (arXiv:2204.05862).
    """
    del query  # one summary answers every question about the paper
    return RLHF_SUMMARY


def retrieve_rlaif_paper(query: str) -> str:
    """Retrieve a summary of Anthropic's Constitutional AI paper (harmlessness from AI feedback).

    The paper replaces human harmfulness labels with AI feedback guided by a list of principles
    (self-critique and revision, then reinforcement learning from AI feedback, RLAIF).

    Args:
        query: What the user wants to know about the paper (the same summary is returned).

    Returns:
        A short summary of Bai et al., 2022 (arXiv:2212.08073).
    """
    del query  # one summary answers every question about the paper
    return RLAIF_SUMMARY
