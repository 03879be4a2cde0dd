-- FreeRADIUS tables with the stock PostgreSQL names and columns, so the stock
-- rlm_sql queries and reporting tools read them unchanged. Netily only ADDS
-- nullable columns (radpostauth.reason, nas.router_id).

CREATE TABLE radacct (
    RadAcctId           bigserial PRIMARY KEY,
    AcctSessionId       text NOT NULL,
    AcctUniqueId        text NOT NULL UNIQUE,
    UserName            text,
    Realm               text,
    NASIPAddress        inet NOT NULL,
    NASPortId           text,
    NASPortType         text,
    AcctStartTime       timestamp with time zone,
    AcctUpdateTime      timestamp with time zone,
    AcctStopTime        timestamp with time zone,
    AcctInterval        bigint,
    AcctSessionTime     bigint,
    AcctAuthentic       text,
    ConnectInfo_start   text,
    ConnectInfo_stop    text,
    AcctInputOctets     bigint,
    AcctOutputOctets    bigint,
    CalledStationId     text,
    CallingStationId    text,
    AcctTerminateCause  text,
    ServiceType         text,
    FramedProtocol      text,
    FramedIPAddress     inet,
    FramedIPv6Address   inet,
    FramedIPv6Prefix    inet,
    FramedInterfaceId   text,
    DelegatedIPv6Prefix inet,
    Class               text
);
CREATE INDEX radacct_active_session_idx ON radacct (AcctUniqueId) WHERE AcctStopTime IS NULL;
CREATE INDEX radacct_bulk_close ON radacct (NASIPAddress, AcctStartTime) WHERE AcctStopTime IS NULL;
CREATE INDEX radacct_start_user_idx ON radacct (AcctStartTime, UserName);
CREATE INDEX radacct_calss_idx ON radacct (Class);
-- Hot paths: Simultaneous-Use and the subscriber record read a user's open sessions.
CREATE INDEX radacct_open_user_idx ON radacct (UserName) WHERE AcctStopTime IS NULL;

CREATE TABLE radcheck (
    id          serial PRIMARY KEY,
    UserName    text NOT NULL DEFAULT '',
    Attribute   text NOT NULL DEFAULT '',
    op          VARCHAR(2) NOT NULL DEFAULT '==',
    Value       text NOT NULL DEFAULT ''
);
CREATE INDEX radcheck_UserName ON radcheck (UserName, Attribute);

CREATE TABLE radgroupcheck (
    id          serial PRIMARY KEY,
    GroupName   text NOT NULL DEFAULT '',
    Attribute   text NOT NULL DEFAULT '',
    op          VARCHAR(2) NOT NULL DEFAULT '==',
    Value       text NOT NULL DEFAULT ''
);
CREATE INDEX radgroupcheck_GroupName ON radgroupcheck (GroupName, Attribute);

CREATE TABLE radgroupreply (
    id          serial PRIMARY KEY,
    GroupName   text NOT NULL DEFAULT '',
    Attribute   text NOT NULL DEFAULT '',
    op          VARCHAR(2) NOT NULL DEFAULT '=',
    Value       text NOT NULL DEFAULT ''
);
CREATE INDEX radgroupreply_GroupName ON radgroupreply (GroupName, Attribute);

CREATE TABLE radreply (
    id          serial PRIMARY KEY,
    UserName    text NOT NULL DEFAULT '',
    Attribute   text NOT NULL DEFAULT '',
    op          VARCHAR(2) NOT NULL DEFAULT '=',
    Value       text NOT NULL DEFAULT ''
);
CREATE INDEX radreply_UserName ON radreply (UserName, Attribute);

CREATE TABLE radusergroup (
    id          serial PRIMARY KEY,
    UserName    text NOT NULL DEFAULT '',
    GroupName   text NOT NULL DEFAULT '',
    priority    integer NOT NULL DEFAULT 0
);
CREATE INDEX radusergroup_UserName ON radusergroup (UserName);

CREATE TABLE radpostauth (
    id                  bigserial PRIMARY KEY,
    username            text NOT NULL,
    pass                text,
    reply               text,
    CalledStationId     text,
    CallingStationId    text,
    authdate            timestamp with time zone NOT NULL DEFAULT now(),
    Class               text,
    -- Netily: why the decision was what it was (e.g. "invoice INV-7 overdue").
    reason              text
);
CREATE INDEX radpostauth_username_idx ON radpostauth (username);
CREATE INDEX radpostauth_class_idx ON radpostauth (Class);
-- Dashboard (last 24h) and auth-log listings read by time, newest first.
CREATE INDEX radpostauth_authdate_idx ON radpostauth (authdate);
CREATE INDEX radpostauth_username_authdate_idx ON radpostauth (username, authdate);

CREATE TABLE nas (
    id          serial PRIMARY KEY,
    nasname     text NOT NULL,
    shortname   text NOT NULL,
    type        text NOT NULL DEFAULT 'other',
    ports       integer,
    secret      text NOT NULL,
    server      text,
    community   text,
    description text,
    -- Netily: the router this NAS entry belongs to (NULL for hand-made rows).
    router_id   bigint
);
CREATE INDEX nas_nasname ON nas (nasname);

CREATE TABLE nasreload (
    NASIPAddress    inet PRIMARY KEY,
    ReloadTime      timestamp with time zone NOT NULL
);
