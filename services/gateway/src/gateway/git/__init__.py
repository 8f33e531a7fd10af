"""Git providers (GitHub first): connecting an account (OAuth web and device flows), its
tokens kept encrypted and refreshed, the user's repositories, and the credential workstations'
git asks for."""
