// One-shot job of docker-compose.yml (`mongo-init`, run by mongosh against
// mongo1): initiates replica set rs0 if needed, waits until mongo1 is the
// primary, then creates or updates one user per Hotline service. Safe to run
// again: AlreadyInitialized is fine, an existing user gets the current
// password (rotation = change .env, rerun the job).
//
// Environment: MONGO_ROOT_USERNAME / MONGO_ROOT_PASSWORD (the root user that
// mongo1's entrypoint created on first start), MONGO_<SERVICE>_PASSWORD for
// intake, routing, followup, metrics, simulator; MONGODB_DATABASE (hotline).
// Passwords are read from the environment, never printed.

const env = process.env;
const need = (name) => {
  const value = env[name];
  if (!value) {
    print(`mongo-init: ${name} is not set`);
    quit(2);
  }
  return value;
};

const admin = db.getSiblingDB('admin');
admin.auth(need('MONGO_ROOT_USERNAME'), need('MONGO_ROOT_PASSWORD'));

const config = {
  _id: 'rs0',
  members: [
    { _id: 0, host: 'mongo1:27017', priority: 2 },
    { _id: 1, host: 'mongo2:27017', priority: 1 },
    { _id: 2, host: 'mongo3:27017', priority: 1 },
  ],
};
try {
  rs.initiate(config);
  print('mongo-init: rs0 initiated');
} catch (e) {
  if (e.codeName !== 'AlreadyInitialized') { throw e; }
  print('mongo-init: rs0 already initiated');
}

// Users are written on the primary; mongo1 has the highest priority.
let primary = false;
for (let i = 0; i < 90 && !primary; i++) {
  primary = admin.runCommand({ hello: 1 }).isWritablePrimary === true;
  if (!primary) { sleep(1000); }
}
if (!primary) {
  print('mongo-init: mongo1 did not become primary within 90 s');
  quit(1);
}

// One user per service, each limited to the application database: a leaked
// service password gives neither the other databases nor user administration.
const database = env.MONGODB_DATABASE || 'hotline';
for (const service of ['intake', 'routing', 'followup', 'metrics', 'simulator']) {
  const pwd = need(`MONGO_${service.toUpperCase()}_PASSWORD`);
  const roles = [{ role: 'readWrite', db: database }];
  if (admin.getUser(service)) {
    admin.updateUser(service, { pwd, roles });
    print(`mongo-init: user ${service} updated`);
  } else {
    admin.createUser({ user: service, pwd, roles });
    print(`mongo-init: user ${service} created`);
  }
}
print('mongo-init: done');
