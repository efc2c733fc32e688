import './styles.css';
import { registerScreens, render } from './router.js';
import { account } from './screens/account.js';
import { home } from './screens/home.js';
import { approve, code, login } from './screens/login.js';
import { forgotPassword, resetPassword } from './screens/password.js';
import { signup, signupVerify } from './screens/signup.js';

registerScreens(
  {
    '/': home,
    '/signup': () => (new URLSearchParams(location.search).get('step') === 'phone' ? signupVerify() : signup()),
    '/login': login,
    '/login/approve': approve,
    '/login/code': code,
    '/account': account,
    '/password/forgot': forgotPassword,
    '/password/reset': resetPassword,
  },
  home,
);

void render();
