import './styles.css';
import { registerScreens, render } from './router.js';
import { account } from './screens/account.js';
import { home } from './screens/home.js';
import { approve, code, login } from './screens/login.js';
import { forgotPassword, resetPassword } from './screens/password.js';
import { confirmEmailChange } from './screens/profile-changes.js';
import { signup, signupCheckEmail, signupVerify, signupVerifyEmail } from './screens/signup.js';

registerScreens(
  {
    '/': home,
    '/signup': () => {
      const step = new URLSearchParams(location.search).get('step');
      return step === 'phone' ? signupVerify() : step === 'email' ? signupCheckEmail() : signup();
    },
    '/signup/verify-email': signupVerifyEmail,
    '/login': login,
    '/login/approve': approve,
    '/login/code': code,
    '/account': account,
    '/account/email': confirmEmailChange,
    '/password/forgot': forgotPassword,
    '/password/reset': resetPassword,
  },
  home,
);

void render();
