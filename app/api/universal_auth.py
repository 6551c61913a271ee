"""Routes: universal_auth (being built)."""

from fastapi import APIRouter

router = APIRouter()
