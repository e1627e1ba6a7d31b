import { lazy, Suspense } from 'react';
import { Route, Routes } from 'react-router';
import { Empty, Loading, PageHeader } from '../components/feedback.js';
import { RequireAuth } from '../features/auth/components/require-auth.js';
import { LoginRoute } from '../features/auth/routes/login.js';
import { Layout } from './layout.js';

// Each page is its own chunk: the first load carries the shell, not uPlot or the wizard.
const ApiTokensRoute = lazy(() =>
  import('../features/admin/routes/api-tokens.js').then((m) => ({ default: m.ApiTokensRoute })),
);
const UsersRoute = lazy(() =>
  import('../features/admin/routes/users.js').then((m) => ({ default: m.UsersRoute })),
);
const DeviceRoute = lazy(() =>
  import('../features/devices/routes/device.js').then((m) => ({ default: m.DeviceRoute })),
);
const DevicesRoute = lazy(() =>
  import('../features/devices/routes/devices.js').then((m) => ({ default: m.DevicesRoute })),
);
const FleetsRoute = lazy(() =>
  import('../features/fleets/routes/fleets.js').then((m) => ({ default: m.FleetsRoute })),
);
const OverviewRoute = lazy(() =>
  import('../features/overview/routes/overview.js').then((m) => ({ default: m.OverviewRoute })),
);
const ReleaseRoute = lazy(() =>
  import('../features/releases/routes/release.js').then((m) => ({ default: m.ReleaseRoute })),
);
const ReleasesRoute = lazy(() =>
  import('../features/releases/routes/releases.js').then((m) => ({ default: m.ReleasesRoute })),
);
const NewRolloutRoute = lazy(() =>
  import('../features/rollouts/routes/new-rollout.js').then((m) => ({ default: m.NewRolloutRoute })),
);
const RolloutRoute = lazy(() =>
  import('../features/rollouts/routes/rollout.js').then((m) => ({ default: m.RolloutRoute })),
);
const RolloutsRoute = lazy(() =>
  import('../features/rollouts/routes/rollouts.js').then((m) => ({ default: m.RolloutsRoute })),
);

function Authed({ children }: { children: React.ReactNode }) {
  return (
    <RequireAuth>
      <Layout>
        <Suspense fallback={<Loading label="Loading page" />}>{children}</Suspense>
      </Layout>
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
