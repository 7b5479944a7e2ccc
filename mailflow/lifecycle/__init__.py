"""After acceptance: statuses the installer records, reminders, lapses, follow-ups, expiry."""
