import { Route, Routes } from 'react-router';
import { Empty, PageHeader } from '../components/feedback.js';
import { ApiTokensRoute } from '../features/admin/routes/api-tokens.js';
import { UsersRoute } from '../features/admin/routes/users.js';
import { RequireAuth } from '../features/auth/components/require-auth.js';
import { LoginRoute } from '../features/auth/routes/login.js';
import { DeviceRoute } from '../features/devices/routes/device.js';
import { DevicesRoute } from '../features/devices/routes/devices.js';
import { FleetsRoute } from '../features/fleets/routes/fleets.js';
import { OverviewRoute } from '../features/overview/routes/overview.js';
import { ReleaseRoute } from '../features/releases/routes/release.js';
import { ReleasesRoute } from '../features/releases/routes/releases.js';
import { NewRolloutRoute } from '../features/rollouts/routes/new-rollout.js';
import { RolloutRoute } from '../features/rollouts/routes/rollout.js';
import { RolloutsRoute } from '../features/rollouts/routes/rollouts.js';
import { Layout } from './layout.js';

function Authed({ children }: { children: React.ReactNode }) {
  return (
    <RequireAuth>
      <Layout>{children}</Layout>
    </RequireAuth>
  );
}

export function AppRoutes() {
  return (
    <Routes>
      <Route path="/login" element={<LoginRoute />} />
      <Route
        path="/"
        element={
          <Authed>
            <OverviewRoute />
          </Authed>
        }
      />
      <Route
        path="/devices"
        element={
          <Authed>
            <DevicesRoute />
          </Authed>
        }
      />
      <Route
        path="/devices/:id"
        element={
          <Authed>
            <DeviceRoute />
          </Authed>
        }
      />
      <Route
        path="/releases"
        element={
          <Authed>
            <ReleasesRoute />
          </Authed>
        }
      />
      <Route
        path="/releases/:version"
        element={
          <Authed>
            <ReleaseRoute />
          </Authed>
        }
      />
      <Route
        path="/rollouts"
        element={
          <Authed>
            <RolloutsRoute />
          </Authed>
        }
      />
      <Route
        path="/rollouts/new"
        element={
          <Authed>
            <NewRolloutRoute />
          </Authed>
        }
      />
      <Route
        path="/rollouts/:id"
        element={
          <Authed>
            <RolloutRoute />
          </Authed>
        }
      />
      <Route
        path="/fleets"
        element={
          <Authed>
            <FleetsRoute />
          </Authed>
        }
      />
      <Route
        path="/users"
        element={
          <Authed>
            <UsersRoute />
          </Authed>
        }
      />
      <Route
        path="/tokens"
        element={
          <Authed>
            <ApiTokensRoute />
          </Authed>
        }
      />
      <Route
        path="*"
        element={
          <Authed>
            <PageHeader title="Not found" />
            <Empty>There is no page here.</Empty>
          </Authed>
        }
      />
    </Routes>
  );
}
