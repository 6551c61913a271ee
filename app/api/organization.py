"""Routes: organization (being built)."""

from fastapi import APIRouter

router = APIRouter()
