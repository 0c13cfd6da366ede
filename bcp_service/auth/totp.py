"""The second factor: TOTP (RFC 6238, ``pyotp``) and one-time recovery codes.

The TOTP secret is stored encrypted (AES-GCM) under a key derived from ``BCP_SECRET_KEY``: a copy of the
database alone does not give the secrets away. Changing the secret key makes every stored secret
unreadable; those accounts sign in with a recovery code (or an admin turns their second factor off) and
enrol again. A code is accepted once (``totp_last_step``), in a window of one step either side (30 s).
Recovery codes are random (60 bits), stored as SHA-256 hashes, each usable once.

The pending sign-in between the password and the code is a signed cookie (``sign_pending``), not a
session: nothing reaches any page until the second step is done, and it dies with the account's epoch.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import unicodedata

import pyotp
import segno
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete
from sqlmodel import Session, col, select

from bcp_service.auth import throttle
from bcp_service.auth.roles import Role
from bcp_service.auth.secrets import token_hash
from bcp_service.config import Settings
from bcp_service.errors import FieldError
from bcp_service.models import RecoveryCode, User
from bcp_service.models.base import utcnow

ISSUER = "bcp-service"
PRIVILEGED = frozenset({Role.admin, Role.prefecture, Role.hub})
RECOVERY_CODES = 10
PENDING_SECONDS = 300
WRONG_CODE = "確認コードが違うか、有効期限が切れています (wrong or expired code)"


def _key(settings: Settings, purpose: bytes) -> bytes:
    return hmac.new(settings.secret_key.get_secret_value().encode(), purpose, hashlib.sha256).digest()


def seal(secret: str, settings: Settings) -> str:
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(_key(settings, b"bcp-totp-secret-v1")).encrypt(nonce, secret.encode(), b"totp")
    return "v1:" + base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(stored: str, settings: Settings) -> str | None:
    """The plain secret, or None when it cannot be read (another secret key)."""
    try:
        raw = base64.urlsafe_b64decode(stored.removeprefix("v1:"))
        return AESGCM(_key(settings, b"bcp-totp-secret-v1")).decrypt(raw[:12], raw[12:], b"totp").decode()
    except (InvalidTag, ValueError):
        return None


def step_needed(user: User, settings: Settings) -> str:
    """After a correct password: "verify" (a code), "enrol" (a privileged account without one while
    ``BCP_REQUIRE_TWO_FACTOR`` is on) or "none"."""
    if user.totp_enabled_at is not None:
        return "verify"
    if settings.two_factor_required and user.role in PRIVILEGED:
        return "enrol"
    return "none"


def missing_required(user: User, settings: Settings) -> bool:
    return step_needed(user, settings) == "enrol"


def start_enrolment(*, session: Session, user: User, settings: Settings) -> str:
    """A new secret (or the one of an enrolment not yet confirmed), stored sealed; returned plain to show.
    An enrolled account is refused: its second factor is turned off first (by itself where allowed, or an admin)."""
    if user.totp_enabled_at is not None:
        raise FieldError(
            "二段階認証は登録済みです。端末を替えるときは、解除してから登録し直してください (already enrolled)",
            field="code",
        )
    if user.totp_secret:
        current = unseal(user.totp_secret, settings)
        if current:
            return current
    secret = pyotp.random_base32()
    user.totp_secret = seal(secret, settings)
    user.totp_enabled_at = None
    user.totp_last_step = None
    session.add(user)
    session.flush()
    return secret


def enrolment_context(user: User, secret: str) -> dict[str, str]:
    """What the enrolment pages show: the secret in groups of four, the otpauth URI and its QR code (SVG)."""
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)
    return {
        "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "uri": uri,
        "qr_svg": segno.make(uri, micro=False).svg_inline(scale=4, title="二段階認証の登録用QRコード"),
    }


def _digits(code: str) -> str:
    # Full-width digits and spaces as people type them on a Japanese keyboard.
    return "".join(unicodedata.normalize("NFKC", code).split()).replace("-", "")


def _check_totp(user: User, code: str, settings: Settings) -> bool:
    secret = unseal(user.totp_secret, settings) if user.totp_secret else None
    code = _digits(code)
    if not secret or not code.isdigit() or len(code) != 6:
        return False
    totp = pyotp.TOTP(secret)
    now_step = int(time.time()) // totp.interval
    for step in (now_step - 1, now_step, now_step + 1):
        if (user.totp_last_step is None or step > user.totp_last_step) and hmac.compare_digest(
            totp.generate_otp(step), code
        ):
            user.totp_last_step = step
            return True
    return False


def confirm_enrolment(*, session: Session, user: User, code: str, settings: Settings) -> list[str]:
    """Turn the second factor on with a first correct code; returns new recovery codes (shown once)."""
    if user.totp_enabled_at is not None:
        raise FieldError("二段階認証は登録済みです (already enrolled)", field="code")
    if not user.totp_secret or not _check_totp(user, code, settings):
        raise FieldError(WRONG_CODE, field="code")
    user.totp_enabled_at = utcnow()
    session.add(user)
    return new_recovery_codes(session=session, user=user)


def new_recovery_codes(*, session: Session, user: User) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    codes = [
        "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3)) for _ in range(RECOVERY_CODES)
    ]
    session.add_all(RecoveryCode(user_id=user.id, code_hash=token_hash(c.replace("-", ""))) for c in codes)
    session.flush()
    return codes


def verify(*, session: Session, user: User, code: str, settings: Settings) -> str:
    """Check a TOTP code or an unused recovery code; "totp" or "recovery", or FieldError."""
    if _check_totp(user, code, settings):
        session.add(user)
        throttle.clear(session, f"user:{user.username.lower()}")
        return "totp"
    normalised = _digits(code).upper()
    row = (
        session.exec(
            select(RecoveryCode).where(
                RecoveryCode.user_id == user.id,
                RecoveryCode.code_hash == token_hash(normalised),
                col(RecoveryCode.used_at).is_(None),
            )
        ).first()
        if len(normalised) == 12
        else None
    )
    if row is None:
        raise FieldError(WRONG_CODE, field="code")
    row.used_at = utcnow()
    session.add(row)
    throttle.clear(session, f"user:{user.username.lower()}")
    return "recovery"


def recovery_codes_left(*, session: Session, user: User) -> int:
    return len(
        session.exec(
            select(RecoveryCode.id).where(RecoveryCode.user_id == user.id, col(RecoveryCode.used_at).is_(None))
        ).all()
    )


def disable(*, session: Session, user: User) -> None:
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    session.add(user)
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.flush()


def sign_pending(user: User, purpose: str, settings: Settings) -> str:
    """The cookie between the password and the second step: account, epoch, purpose and expiry, signed."""
    body = f"{user.id}.{user.credential_epoch}.{purpose}.{int(time.time()) + PENDING_SECONDS}"
    mac = hmac.new(_key(settings, b"bcp-pending-login-v1"), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def read_pending(value: str, purpose: str, *, session: Session, settings: Settings) -> User | None:
    body, _, mac = value.rpartition(".")
    expected = hmac.new(_key(settings, b"bcp-pending-login-v1"), body.encode(), hashlib.sha256).hexdigest()
    if not body or not hmac.compare_digest(mac, expected):
        return None
    try:
        user_id, epoch, kind, expires = body.split(".")
        user = session.get(User, int(user_id))
        fresh = int(expires) >= time.time()
    except ValueError:
        return None
    if user is None or not fresh or kind != purpose or not user.active or str(user.credential_epoch) != epoch:
        return None
    return user
