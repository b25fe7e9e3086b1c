"""``lambdaforge.records``: msgspec imported without typing_extensions, which stays importable."""

from __future__ import annotations

import subprocess
import sys


def test_msgspec_is_imported_without_typing_extensions_which_others_still_get() -> None:
    code = (
        "import sys\n"
        "from lambdaforge.records import import_msgspec\n"
        "import_msgspec()\n"
        "assert 'msgspec' in sys.modules and 'typing_extensions' not in sys.modules\n"
        "import msgspec\n"
        "from msgspec.structs import replace\n"
        "class R(msgspec.Struct, frozen=True):\n"
        "    a: int\n"
        "    b: tuple[str, ...] = ()\n"
        "r = R(1)\n"
        "assert r == R(1) and hash(r) == hash(R(1)) and replace(r, a=2).a == 2\n"
        "import typing_extensions, pydantic\n"  # what a full plan imports next
        "assert sys.modules['typing_extensions'] is typing_extensions\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_a_process_that_has_typing_extensions_already_is_left_as_it_is() -> None:
    code = (
        "import sys, typing_extensions\n"
        "from lambdaforge.records import import_msgspec\n"
        "import_msgspec()\n"
        "import msgspec._utils as u\n"
        "assert sys.modules['typing_extensions'] is typing_extensions\n"
        "assert u._get_type_hints is typing_extensions.get_type_hints\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
