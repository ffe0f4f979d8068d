CREATE TABLE audit_checkpoint (
	session_id VARCHAR(64) NOT NULL, 
	size BIGINT NOT NULL, 
	root BLOB NOT NULL, 
	note TEXT NOT NULL, 
	PRIMARY KEY (session_id, size)
);

CREATE TABLE audit_cosignature (
	session_id VARCHAR(64) NOT NULL, 
	size BIGINT NOT NULL, 
	witness VARCHAR(255) NOT NULL, 
	timestamp BIGINT NOT NULL, 
	line TEXT NOT NULL, 
	PRIMARY KEY (session_id, size, witness)
);

CREATE TABLE audit_leaf (
	session_id VARCHAR(64) NOT NULL, 
	idx BIGINT NOT NULL, 
	data BLOB NOT NULL, 
	PRIMARY KEY (session_id, idx)
);

CREATE TABLE audit_node (
	session_id VARCHAR(64) NOT NULL, 
	level SMALLINT NOT NULL, 
	idx BIGINT NOT NULL, 
	hash BLOB NOT NULL, 
	PRIMARY KEY (session_id, level, idx)
);

CREATE TABLE evalsvc_meta (
	"key" VARCHAR(64) NOT NULL, 
	value VARCHAR(200) NOT NULL, 
	PRIMARY KEY ("key")
);

CREATE TABLE expert (
	id VARCHAR(64) NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	resident_id VARCHAR(18) NOT NULL, 
	region VARCHAR(2) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	doc TEXT NOT NULL, 
	"view" TEXT, 
	imported_ms BIGINT NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_expert_region ON expert (region);

CREATE INDEX ix_expert_status ON expert (status);

CREATE TABLE idempotency_key (
	actor VARCHAR(100) NOT NULL, 
	"key" VARCHAR(100) NOT NULL, 
	session_id VARCHAR(40) NOT NULL, 
	request_sha256 VARCHAR(64) NOT NULL, 
	status INTEGER NOT NULL, 
	response TEXT NOT NULL, 
	created_ms BIGINT NOT NULL, 
	PRIMARY KEY (actor, "key")
);

CREATE TABLE login_challenge (
	nonce VARCHAR(64) NOT NULL, 
	session_id VARCHAR(64) NOT NULL, 
	doc TEXT NOT NULL, 
	expires_ms BIGINT NOT NULL, 
	PRIMARY KEY (nonce)
);

CREATE INDEX ix_login_challenge_expires_ms ON login_challenge (expires_ms);

CREATE TABLE pool_snapshot (
	sha256 VARCHAR(64) NOT NULL, 
	size INTEGER NOT NULL, 
	doc TEXT NOT NULL, 
	created_ms BIGINT NOT NULL, 
	PRIMARY KEY (sha256)
);

CREATE TABLE session (
	id VARCHAR(40) NOT NULL, 
	title VARCHAR(200) NOT NULL, 
	primary_venue VARCHAR(32) NOT NULL, 
	state VARCHAR(20) NOT NULL, 
	last_seq INTEGER NOT NULL, 
	doc TEXT NOT NULL, 
	created_at BIGINT NOT NULL, 
	updated_at BIGINT NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_session_primary_venue ON session (primary_venue);

CREATE TABLE signer_certificate (
	sha256 VARCHAR(64) NOT NULL, 
	pem TEXT NOT NULL, 
	first_seen_ms BIGINT NOT NULL, 
	PRIMARY KEY (sha256)
);

CREATE TABLE draw_state (
	session_id VARCHAR(40) NOT NULL, 
	doc TEXT NOT NULL, 
	next_deadline_ms BIGINT, 
	updated_ms BIGINT NOT NULL, 
	PRIMARY KEY (session_id), 
	FOREIGN KEY(session_id) REFERENCES session (id)
);

CREATE INDEX ix_draw_state_next_deadline_ms ON draw_state (next_deadline_ms);

CREATE TABLE event (
	session_id VARCHAR(40) NOT NULL, 
	seq INTEGER NOT NULL, 
	type VARCHAR(40) NOT NULL, 
	payload TEXT NOT NULL, 
	actor VARCHAR(100) NOT NULL, 
	venue VARCHAR(32), 
	time_ms BIGINT NOT NULL, 
	PRIMARY KEY (session_id, seq), 
	FOREIGN KEY(session_id) REFERENCES session (id)
);

CREATE TABLE invitation (
	session_id VARCHAR(40) NOT NULL, 
	seat INTEGER NOT NULL, 
	rank INTEGER NOT NULL, 
	expert_id VARCHAR(64) NOT NULL, 
	venue_id VARCHAR(32) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	deadline_ms BIGINT NOT NULL, 
	PRIMARY KEY (session_id, seat, rank), 
	FOREIGN KEY(session_id) REFERENCES session (id)
);

CREATE INDEX ix_invitation_expert_id ON invitation (expert_id);

CREATE TABLE score_sheet (
	id INTEGER NOT NULL, 
	session_id VARCHAR(40) NOT NULL, 
	seat INTEGER NOT NULL, 
	stage VARCHAR(20) NOT NULL, 
	version INTEGER NOT NULL, 
	expert_id VARCHAR(64) NOT NULL, 
	doc TEXT NOT NULL, 
	sha256 VARCHAR(64) NOT NULL, 
	seq INTEGER NOT NULL, 
	submitted_ms BIGINT NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (session_id, seat, stage, version), 
	FOREIGN KEY(session_id) REFERENCES session (id)
);

CREATE INDEX ix_sheet_latest ON score_sheet (session_id, stage, seat, version);
