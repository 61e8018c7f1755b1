"""Command-line front end over qrscope.core."""
