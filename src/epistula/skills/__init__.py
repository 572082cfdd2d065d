"""The Skills API: custom skills (a directory with ``SKILL.md``) and their versions."""
