"""Users files for dashboard tests, written as `htpasswd -B` writes them."""

from __future__ import annotations

from pathlib import Path

import bcrypt


def htpasswd(path: Path, users: dict[str, str]) -> Path:
    """``user:$2y$05$...`` lines: Apache's htpasswd -B prefix and its default cost."""
    lines = []
    for user, password in users.items():
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
        lines.append(f"{user}:$2y${hashed[4:]}\n")
    path.write_text("".join(lines))
    return path
