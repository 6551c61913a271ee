"""Routes: rotations (being built)."""

from fastapi import APIRouter

router = APIRouter()
