"""Routes: connections (being built)."""

from fastapi import APIRouter

router = APIRouter()
