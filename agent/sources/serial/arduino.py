"""Build the Arduino library's sketches for an AVR board and upload them with avrdude.

The build follows the installed Arduino AVR core exactly as the Arduino IDE does: the compile, archive
and link recipes and their flags come from the core's ``platform.txt``, the board's MCU, clock and
pin variant from its ``boards.txt`` (Debian's ``arduino-core-avr`` puts both under
``/usr/share/arduino/hardware/arduino/avr``). A sketch is compiled as the IDE compiles it: the
``.ino`` becomes C++ with ``#include <Arduino.h>`` in front (sketches here declare each function
before using it, so no prototypes are generated).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from agent.errors import AgentError

CORE_DIR = Path("/usr/share/arduino/hardware/arduino/avr")
LIBRARY_DIR = (
    Path(__file__).resolve().parents[3] / "firmware_bridge" / "firmware" / "arduino" / "HearthBridge"
)
IDE_VERSION = "10807"
_TOOLS_HINT = (
    "install the AVR tool chain and core: sudo apt-get install gcc-avr avr-libc arduino-core-avr avrdude"
)


@dataclass(frozen=True, slots=True)
class Firmware:
    """A built sketch: its files and how much of the board's flash and RAM it takes."""

    elf: Path
    hex: Path
    flash: int
    ram: int
    flash_max: int
    ram_max: int

    def summary(self) -> str:
        """The IDE's two size lines, in one."""
        return (
            f"{self.flash} bytes of flash ({100 * self.flash // self.flash_max}% of {self.flash_max}), "
            f"{self.ram} bytes of RAM for globals ({100 * self.ram // self.ram_max}% of {self.ram_max}), "
            f"{self.ram_max - self.ram} left for the stack"
        )


def read_properties(path: Path) -> dict[str, str]:
    """The ``key=value`` lines of an Arduino ``platform.txt`` or ``boards.txt``."""
    properties: dict[str, str] = {}
    for raw in path.read_text("utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            properties[key.strip()] = value.strip()
    return properties


def expand(template: str, properties: dict[str, str]) -> str:
    """Replace each ``{key}`` in ``template`` by its property, repeatedly (values refer to others)."""
    for _ in range(10):
        expanded = re.sub(r"\{([^{}]+)\}", lambda m: properties.get(m.group(1), m.group(0)), template)
        if expanded == template:
            break
        template = expanded
    return template


def example_sketch(name: str) -> Path:
    """The ``.ino`` of the library example ``name``; raise ``AgentError`` listing them if there is none."""
    sketch = LIBRARY_DIR / "examples" / name / f"{name}.ino"
    if not sketch.is_file():
        known = ", ".join(sorted(p.name for p in (LIBRARY_DIR / "examples").iterdir()))
        raise AgentError(f"no example sketch named {name!r}", hint=f"the examples are: {known}")
    return sketch


class _Build:
    def __init__(self, sketch: Path, build_dir: Path, board: str, core: Path) -> None:
        platform = core / "platform.txt"
        boards = core / "boards.txt"
        if not platform.is_file() or not boards.is_file():
            raise AgentError(f"no Arduino AVR core in {core}", hint=_TOOLS_HINT)
        props = read_properties(platform)
        prefix = f"{board}."
        board_props = {
            k[len(prefix) :]: v for k, v in read_properties(boards).items() if k.startswith(prefix)
        }
        if "build.mcu" not in board_props:
            raise AgentError(
                f"the Arduino AVR core has no board named {board!r}", hint="try: uno, nano, mega"
            )
        props.update(board_props)
        variant = core / "variants" / props["build.variant"]
        props.update(
            {
                "runtime.ide.version": IDE_VERSION,
                "build.arch": "AVR",
                "build.path": str(build_dir),
                "build.project_name": sketch.stem,
                "archive_file": f"core-{board}.a",
                "archive_file_path": str(build_dir / f"core-{board}.a"),
                "includes": shlex.join(
                    [
                        "-I" + str(core / "cores" / props["build.core"]),
                        "-I" + str(variant),
                        "-I" + str(LIBRARY_DIR / "src"),
                    ]
                ),
            }
        )
        self.props = props
        self.core = core / "cores" / props["build.core"]
        self.sketch = sketch
        self.dir = build_dir

    def run(self, recipe: str, **values: str) -> str:
        command = shlex.split(expand(self.props[recipe], {**self.props, **values}))
        if shutil.which(command[0]) is None:
            raise AgentError(f"{command[0]} is not installed", hint=_TOOLS_HINT)
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
        if result.returncode != 0:
            lines = (result.stderr or result.stdout).strip().splitlines()
            raise AgentError(
                f"building {self.sketch.name} failed: {lines[-1] if lines else 'no output'}",
                hint="the whole compiler output:\n" + (result.stderr or result.stdout),
            )
        return result.stdout

    def compile(self, source: Path, out_dir: Path, *, extra: str = "") -> Path:
        out_dir.mkdir(parents=True, exist_ok=True)
        obj = out_dir / (source.name + ".o")
        recipe = {".c": "recipe.c.o.pattern", ".cpp": "recipe.cpp.o.pattern", ".S": "recipe.S.o.pattern"}
        values = {"source_file": str(source), "object_file": str(obj)}
        if extra:
            values["compiler.cpp.extra_flags"] = extra
        self.run(recipe[source.suffix], **values)
        return obj

    def firmware(self) -> Firmware:
        self.dir.mkdir(parents=True, exist_ok=True)
        archive = Path(self.props["archive_file_path"])
        if not archive.exists():  # the core is built once per build folder and board
            try:
                for source in sorted(self.core.iterdir()):
                    if source.suffix in {".c", ".cpp", ".S"}:
                        # The core's WString.cpp needs DECIMAL_DIG, which avr-gcc 5 (Debian's) gives
                        # C++ only under its built-in name.
                        obj = self.compile(source, self.dir / "core", extra="-DDECIMAL_DIG=__DECIMAL_DIG__")
                        self.run("recipe.ar.pattern", object_file=str(obj))
            except BaseException:
                archive.unlink(missing_ok=True)
                raise
        sketch_cpp = self.dir / "sketch" / (self.sketch.name + ".cpp")
        sketch_cpp.parent.mkdir(parents=True, exist_ok=True)
        sketch_cpp.write_text(
            f'#include <Arduino.h>\n#line 1 "{self.sketch}"\n' + self.sketch.read_text("utf-8")
        )
        objects = [self.compile(sketch_cpp, self.dir / "sketch")]
        objects += [
            self.compile(src, self.dir / "library") for src in sorted((LIBRARY_DIR / "src").glob("*.cpp"))
        ]
        self.run("recipe.c.combine.pattern", object_files=shlex.join(str(o) for o in objects))
        self.run("recipe.objcopy.hex.pattern")
        sizes = self.run("recipe.size.pattern")
        return Firmware(
            elf=self.dir / f"{self.sketch.stem}.elf",
            hex=self.dir / f"{self.sketch.stem}.hex",
            flash=_section_total(sizes, self.props["recipe.size.regex"]),
            ram=_section_total(sizes, self.props["recipe.size.regex.data"]),
            flash_max=int(self.props["upload.maximum_size"]),
            ram_max=int(self.props["upload.maximum_data_size"]),
        )


def _section_total(size_output: str, pattern: str) -> int:
    return sum(int(m.group(1)) for m in re.finditer(pattern, size_output, re.MULTILINE))


def build(sketch: Path, build_dir: Path, *, board: str = "uno", core: Path | None = None) -> Firmware:
    """Compile and link ``sketch`` with the HearthBridge library for ``board``; ``AgentError`` if it fails."""
    return _Build(sketch, build_dir, board, core or CORE_DIR).firmware()


def upload_command(
    firmware: Firmware, port: str, *, board: str = "uno", core: Path | None = None
) -> list[str]:
    """The avrdude command line that writes ``firmware`` through the board's bootloader on ``port``."""
    props = read_properties((core or CORE_DIR) / "boards.txt")
    mcu = props[f"{board}.build.mcu"]
    protocol = props[f"{board}.upload.protocol"]
    speed = props[f"{board}.upload.speed"]
    return [
        "avrdude",
        "-p",
        mcu,
        "-c",
        protocol,
        "-P",
        port,
        "-b",
        speed,
        "-D",
        "-U",
        f"flash:w:{firmware.hex}:i",
    ]


def upload(firmware: Firmware, port: str, *, board: str = "uno", core: Path | None = None) -> None:
    """Write ``firmware`` to the board on ``port`` with avrdude; raise ``AgentError`` if it fails."""
    command = upload_command(firmware, port, board=board, core=core)
    if shutil.which(command[0]) is None:
        raise AgentError("avrdude is not installed", hint=_TOOLS_HINT)
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    except subprocess.TimeoutExpired:
        raise AgentError(f"avrdude did not finish writing to {port} within 2 minutes") from None
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        raise AgentError(
            f"avrdude could not write to the board on {port}: {lines[-1] if lines else 'no output'}",
            hint="is it the board's port, is no other program (hearth run, a monitor) using it?",
        )
