"""Pure rules of ``reloader explain``: a report from the views and plans the controllers use."""
