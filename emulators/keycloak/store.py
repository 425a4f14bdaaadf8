"""The emulator's state: realms in memory behind one lock, plus lookups shared by the routes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable

from .config import EmulatorConfig
from .keys import RealmKeys
from .models import Client, Organization, PasswordCredential, Realm, User

PBKDF2_ITERATIONS = 1000


class Store:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.realms: dict[str, Realm] = {}
        self._keys: dict[str, RealmKeys] = {}
        self.clock: Callable[[], float] = time.time

    # time -----------------------------------------------------------------
    def now(self) -> int:
        return int(self.clock())

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # realms and keys ------------------------------------------------------
    def realm(self, name: str) -> Realm | None:
        return self.realms.get(name)

    def keys(self, realm: Realm) -> RealmKeys:
        keys = self._keys.get(realm.id)
        if keys is None:
            keys = RealmKeys(realm_name=realm.name)
            self._keys[realm.id] = keys
        return keys

    def drop_realm(self, realm: Realm) -> None:
        self.realms.pop(realm.name, None)
        self._keys.pop(realm.id, None)

    # clients --------------------------------------------------------------
    @staticmethod
    def client_by_client_id(realm: Realm, client_id: str) -> Client | None:
        for client in realm.clients.values():
            if client.client_id == client_id:
                return client
        return None

    # users ----------------------------------------------------------------
    @staticmethod
    def user_by_username(realm: Realm, username: str) -> User | None:
        wanted = username.strip().lower()
        for user in realm.users.values():
            if user.username == wanted:
                return user
        return None

    @staticmethod
    def user_by_email(realm: Realm, email: str) -> User | None:
        wanted = email.strip().lower()
        for user in realm.users.values():
            if user.email == wanted and user.service_account_client is None:
                return user
        return None

    def user_by_login(self, realm: Realm, value: str) -> User | None:
        """The user a login form's ``username`` field names: username, or email when allowed."""
        user = self.user_by_username(realm, value)
        if user is None and realm.login_with_email_allowed and "@" in value:
            user = self.user_by_email(realm, value)
        if user is not None and user.service_account_client is not None:
            return None
        return user

    def set_password(self, user: User, value: str, temporary: bool) -> None:
        salt = secrets.token_bytes(16)
        digest = hashlib.pbkdf2_hmac("sha256", value.encode("utf-8"), salt, PBKDF2_ITERATIONS)
        user.password = PasswordCredential(
            salt=salt, digest=digest, temporary=temporary, created_ms=self.now_ms()
        )
        if temporary and "UPDATE_PASSWORD" not in user.required_actions:
            user.required_actions.append("UPDATE_PASSWORD")
        user.seed_password = None

    @staticmethod
    def check_password(user: User, value: str) -> bool:
        if user.password is None:
            return False
        digest = hashlib.pbkdf2_hmac(
            "sha256", value.encode("utf-8"), user.password.salt, PBKDF2_ITERATIONS
        )
        return hmac.compare_digest(digest, user.password.digest)

    @staticmethod
    def remove_user(realm: Realm, user_id: str) -> None:
        realm.users.pop(user_id, None)
        for org in realm.organizations.values():
            org.members.pop(user_id, None)

    # organizations --------------------------------------------------------
    @staticmethod
    def user_organizations(
        realm: Realm, user_id: str, enabled_only: bool = False
    ) -> list[Organization]:
        orgs = [
            org
            for org in realm.organizations.values()
            if user_id in org.members and (org.enabled or not enabled_only)
        ]
        return sorted(orgs, key=lambda org: org.name)

    @staticmethod
    def organization_by_alias(realm: Realm, alias: str) -> Organization | None:
        for org in realm.organizations.values():
            if org.alias == alias:
                return org
        return None

    @staticmethod
    def organization_by_domain(realm: Realm, domain: str) -> Organization | None:
        wanted = domain.strip().lower()
        for org in realm.organizations.values():
            if any(d.name == wanted for d in org.domains):
                return org
        return None
