"""Which secrets changed between two looks at the database, named as project events name them (clients §7.5).

A look (`load_places`) lists the secrets of some projects with their versions; `changes(before, after)` compares
two looks of one project. Only committed rows are ever seen, so events follow commits. A rotation that publishes
raises a secret's version (`secret:update`); a rotation created maps new secrets (`secret:create`); one deleted
with deleteSecrets removes them (`secret:delete`). A secret renamed in place is an update; one that moved to
another environment or path is a delete where it was and a create where it is, so subscribers of either place hear.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session, col

from app.models import Environment, Secret

CREATE, UPDATE, DELETE = "secret:create", "secret:update", "secret:delete"


@dataclass(frozen=True)
class SecretPlace:
    """One secret as events name it, and the version that tells a new value."""

    secret_id: str
    project_id: str
    environment: str
    secret_path: str
    key: str
    version: int

    def payload(self) -> dict[str, str]:
        """The event's payload item, keys in Infisical's order."""
        return {
            "secretId": self.secret_id,
            "secretKey": self.key,
            "secretPath": self.secret_path,
            "environment": self.environment,
        }


@dataclass(frozen=True)
class SecretChange:
    event: str
    place: SecretPlace


Places = dict[str, SecretPlace]  # by secret id


def load_places(session: Session, project_ids: Collection[str]) -> dict[str, Places]:
    """The secrets of these projects, by project (every one of them present, empty when it has none)."""
    found: dict[str, Places] = {project_id: {} for project_id in project_ids}
    if not project_ids:
        return found
    statement = (
        select(
            col(Secret.id),
            col(Secret.project_id),
            col(Environment.slug),
            col(Secret.secret_path),
            col(Secret.key),
            col(Secret.version),
        )
        .join(Environment, col(Environment.id) == Secret.environment_id)
        .where(col(Secret.project_id).in_(list(project_ids)))
    )
    for row in session.execute(statement):
        place = SecretPlace(*row)
        found[place.project_id][place.secret_id] = place
    return found


def changes(before: Places, after: Places) -> list[SecretChange]:
    found = [SecretChange(DELETE, place) for secret_id, place in before.items() if secret_id not in after]
    for secret_id, place in after.items():
        old = before.get(secret_id)
        if old is None:
            found.append(SecretChange(CREATE, place))
        elif (old.environment, old.secret_path) != (place.environment, place.secret_path):
            found += [SecretChange(DELETE, old), SecretChange(CREATE, place)]
        elif old != place:
            found.append(SecretChange(UPDATE, place))
    return found
