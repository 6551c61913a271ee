"""Routes: memberships (being built)."""

from fastapi import APIRouter

router = APIRouter()
