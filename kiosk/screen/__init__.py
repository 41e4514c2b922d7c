"""The door screen (customtkinter): the live preview, the door's states, the NIM + PIN keypad and
technician mode. Widgets only: every rule lives in the kiosk's services (door, fallback, store)."""
