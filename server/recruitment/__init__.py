"""Lab-assistant recruitment: vacancies, applications with transcripts read and checked, selection,
activation, assistants' attendance, contract end and certificates."""
