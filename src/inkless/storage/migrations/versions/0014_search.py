"""search and publication: what each document is found by (substring search in any
language), and when a [公开] document was reviewed for publication

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02

`document_texts` holds a document's number, title, body and attachment names and text. Chinese
is written without spaces, so search is by substring, not by word: on SQLite the text is also
in an FTS5 table with the trigram tokenizer (`document_fts`, rowid = document id), on
PostgreSQL a pg_trgm GIN index serves `ILIKE` (where the extension may be created; without
it the same query scans). Queries shorter than three characters scan either way.

`documents.published_at` / `published_by`: a [公开] document is public once reviewed (signed
off, or confirmed by a leader of a unit without approvers); those already public stay so.
"""

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('documents', sa.Column('published_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('documents', sa.Column('published_by', sa.String(length=320), nullable=True))
    op.execute("UPDATE documents SET published_at = issued_at WHERE public AND status = 'issued'")
    op.create_table('document_texts',
    sa.Column('document_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('files', sa.Text(), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('document_id')
    )
    # Documents from before: found by their numbers, type, title and latest text (their files'
    # text is read when a new version is indexed).
    op.execute("""
        INSERT INTO document_texts (document_id, version, files, content)
        SELECT d.id, v.version, '', COALESCE(d.number, '') || ' ' || COALESCE(d.type, '') || ' ' || d.title
               || ' ' || v.body
        FROM documents d JOIN document_versions v ON v.document_id = d.id
        WHERE v.version = (SELECT MAX(w.version) FROM document_versions w WHERE w.document_id = d.id)""")
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE document_fts USING fts5(content, tokenize='trigram')")
        op.execute("INSERT INTO document_fts (rowid, content) SELECT document_id, content FROM document_texts")
        return
    savepoint = bind.begin_nested()
    try:
        bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        savepoint.commit()
    except sa.exc.DBAPIError:
        savepoint.rollback()  # not allowed here: search works, by scanning
        return
    op.execute("CREATE INDEX ix_document_texts_trgm ON document_texts USING gin (content gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE document_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_document_texts_trgm")
    op.drop_table('document_texts')
    op.drop_column('documents', 'published_by')
    op.drop_column('documents', 'published_at')
