"""Routes: projects (being built)."""

from fastapi import APIRouter

router = APIRouter()
