"""Routes: secrets (being built)."""

from fastapi import APIRouter

router = APIRouter()
